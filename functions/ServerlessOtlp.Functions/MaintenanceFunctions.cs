using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace ServerlessOtlp.Functions;

/// <summary>
/// Timer <c>Maintenance</c>: the failure detector (suspect, then dead; a dead node's leases are expired),
/// the retry store (parked batches re-sent once their destination answers, dead-lettered past their age
/// limit; entries are claimed with blob leases), and retention (blob-log segments fully checkpointed and
/// old enough are deleted). One timer instead of three, at a period in minutes: while data flows, drains
/// run the first two themselves (<see cref="ProcessingRuntime.MaintainIfDueAsync"/>). Each task runs even
/// when another failed.
/// </summary>
public sealed class MaintenanceFunction(ProcessingHost host, ILogger<MaintenanceFunction> logger)
{
    [Function("Maintenance")]
    public Task RunAsync([TimerTrigger(FunctionsOptions.MaintenanceScheduleExpression)] TimerInfo timer, CancellationToken cancellationToken) =>
        MaintainAsync(cancellationToken);

    /// <summary>Runs the three tasks; returns what they did (null for one that failed).</summary>
    public async Task<MaintenanceResult> MaintainAsync(CancellationToken cancellationToken = default)
    {
        var runtime = await host.GetAsync(cancellationToken);
        var health = await TryAsync("health sweep", () => runtime.HealthSweep.SweepAsync(cancellationToken));
        int? settled = await TryAsync<int?>("retry store", async () => await runtime.Services.RetryDrainer.DrainOnceAsync(cancellationToken));
        Report(logger, health, settled);

        int? deleted = await TryAsync<int?>("retention", async () => await runtime.Retention.SweepAsync(cancellationToken));
        if (deleted > 0)
        {
            logger.LogInformation("Retention deleted {Segments} log segments", deleted);
        }

        return new MaintenanceResult(health, settled, deleted);
    }

    /// <summary>One line for what the failure detector and the retry store did, when they did something (also after drains).</summary>
    internal static void Report(ILogger logger, Processing.HealthSweep.SweepResult? health, int? settled)
    {
        if (health is { } h && (h.Dead > 0 || h.LeasesExpired > 0))
        {
            logger.LogWarning("Health sweep: {Dead} nodes dead, {Expired} leases expired", h.Dead, h.LeasesExpired);
        }

        if (settled > 0)
        {
            logger.LogInformation("Retry store: {Settled} entries settled", settled);
        }
    }

    private async Task<T?> TryAsync<T>(string what, Func<Task<T>> action)
    {
        try
        {
            return await action();
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning(ex, "Maintenance: {What} failed; the next run tries again", what);
            return default;
        }
    }
}

/// <summary>What one Maintenance run did; a null member failed (and was logged).</summary>
public sealed record MaintenanceResult(Processing.HealthSweep.SweepResult? Health, int? RetriesSettled, int? SegmentsDeleted);
