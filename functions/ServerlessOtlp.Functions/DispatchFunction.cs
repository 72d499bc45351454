using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace ServerlessOtlp.Functions;

/// <summary>
/// Timer <c>Dispatch</c>, the safety net behind pushed drain jobs: one job per partition with lag and a
/// free lease (a lost queue message, a push the gateway could not make, a drain that died). It writes no
/// heartbeat: an instance that only dispatches holds no partition, and Functions nodes are judged by
/// their drains.
/// </summary>
public sealed class DispatchFunction(ProcessingHost host, ILogger<DispatchFunction> logger)
{
    [Function("Dispatch")]
    public Task RunAsync([TimerTrigger(FunctionsOptions.DispatchScheduleExpression)] TimerInfo timer, CancellationToken cancellationToken) =>
        DispatchAsync(cancellationToken);

    /// <summary>Returns the partitions a job was enqueued for.</summary>
    public async Task<IReadOnlyList<int>> DispatchAsync(CancellationToken cancellationToken = default)
    {
        var runtime = await host.GetAsync(cancellationToken);
        var enqueued = await runtime.Dispatcher.DispatchAsync(cancellationToken);
        if (enqueued.Count > 0)
        {
            // With pushes working this is rare: each one is lag nobody announced.
            logger.LogInformation("Drain jobs enqueued for partitions {Partitions} (lag no push announced)", string.Join(",", enqueued));
        }

        return enqueued;
    }
}
