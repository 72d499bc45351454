using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace ServerlessOtlp.Functions;

/// <summary>Timer <c>HealthSweep</c>: the failure detector (suspect, then dead; a dead node's leases are expired).</summary>
public sealed class HealthSweepFunction(ProcessingHost host, ILogger<HealthSweepFunction> logger)
{
    [Function("HealthSweep")]
    public async Task RunAsync([TimerTrigger(FunctionsOptions.HealthSweepSchedule)] TimerInfo timer, CancellationToken cancellationToken)
    {
        var runtime = await host.GetAsync(cancellationToken);
        var result = await runtime.HealthSweep.SweepAsync(cancellationToken);
        if (result.Dead > 0 || result.LeasesExpired > 0)
        {
            logger.LogWarning("Health sweep: {Dead} nodes dead, {Expired} leases expired", result.Dead, result.LeasesExpired);
        }
    }
}

/// <summary>Timer <c>Retention</c>: deletes blob-log segments that are fully checkpointed and old enough.</summary>
public sealed class RetentionFunction(ProcessingHost host, ILogger<RetentionFunction> logger)
{
    [Function("Retention")]
    public async Task RunAsync([TimerTrigger(FunctionsOptions.RetentionSchedule)] TimerInfo timer, CancellationToken cancellationToken)
    {
        var runtime = await host.GetAsync(cancellationToken);
        int deleted = await runtime.Retention.SweepAsync(cancellationToken);
        if (deleted > 0)
        {
            logger.LogInformation("Retention deleted {Segments} log segments", deleted);
        }
    }
}

/// <summary>
/// Timer <c>RetryStore</c>: re-sends batches parked in the retry store, oldest first per destination,
/// once the destination answers again; dead-letters those past their age limit. Runs as a singleton
/// (the timer's lock), and entries are claimed with blob leases besides.
/// </summary>
public sealed class RetryStoreFunction(ProcessingHost host, ILogger<RetryStoreFunction> logger)
{
    [Function("RetryStore")]
    public Task RunAsync([TimerTrigger(FunctionsOptions.RetryStoreScheduleExpression)] TimerInfo timer, CancellationToken cancellationToken) =>
        DrainAsync(cancellationToken);

    /// <summary>Returns how many entries were settled (delivered or dead-lettered).</summary>
    public async Task<int> DrainAsync(CancellationToken cancellationToken = default)
    {
        var runtime = await host.GetAsync(cancellationToken);
        int settled = await runtime.Services.RetryDrainer.DrainOnceAsync(cancellationToken);
        if (settled > 0)
        {
            logger.LogInformation("Retry store: {Settled} entries settled", settled);
        }

        return settled;
    }
}
