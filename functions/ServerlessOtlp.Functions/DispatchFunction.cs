using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace ServerlessOtlp.Functions;

/// <summary>Timer <c>Dispatch</c>: one drain job per partition with lag and a free lease; also this worker's heartbeat.</summary>
public sealed class DispatchFunction(ProcessingHost host, ILogger<DispatchFunction> logger)
{
    [Function("Dispatch")]
    public Task RunAsync([TimerTrigger(FunctionsOptions.DispatchScheduleExpression)] TimerInfo timer, CancellationToken cancellationToken) =>
        DispatchAsync(cancellationToken);

    /// <summary>Returns the partitions a job was enqueued for.</summary>
    public async Task<IReadOnlyList<int>> DispatchAsync(CancellationToken cancellationToken = default)
    {
        var runtime = await host.GetAsync(cancellationToken);
        try
        {
            await runtime.HeartbeatAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A missed heartbeat must not stop dispatching; the next tick writes it again.
            logger.LogWarning(ex, "Heartbeat failed");
        }

        var enqueued = await runtime.Dispatcher.DispatchAsync(cancellationToken);
        if (enqueued.Count > 0)
        {
            logger.LogInformation("Drain jobs enqueued for partitions {Partitions}", string.Join(",", enqueued));
        }

        return enqueued;
    }
}
