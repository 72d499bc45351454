using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Hosting;

/// <summary>
/// The heartbeat of a drain worker, otlpctl's runner or a Functions worker: one set of counters for
/// both, so that the status view reads the same names whichever host drains.
/// </summary>
public static class DrainWorkerHeartbeat
{
    /// <param name="role"><see cref="NodeRoles.Runner"/> or <see cref="NodeRoles.Functions"/>.</param>
    /// <param name="activeDrains">The runner's drains in flight; null for a Functions worker, whose drains the host schedules.</param>
    public static NodeHeartbeat Create(ProcessingServices services, string role, string version, DateTimeOffset startedAt, string status, int? activeDrains = null)
    {
        var engine = services.Engine;
        var counters = new Dictionary<string, long>
        {
            ["events"] = engine.EventsTotal,
            ["items"] = engine.ItemsTotal,
            ["deadLettered"] = engine.DeadLetteredTotal,
        };
        if (activeDrains is { } active)
        {
            counters["activeDrains"] = active;
        }

        counters["memoryInUseBytes"] = engine.Memory.InUse;
        counters["memoryHighWaterBytes"] = engine.Memory.HighWaterMark;
        counters["storageTransactions"] = services.Storage.Transactions.Total;
        counters["avgResponseMicros"] = services.LocalWork.AverageMicroseconds;
        return new NodeHeartbeat(role, services.Drain.OwnerId, version, Environment.MachineName, startedAt, status, counters, services.Performance.Snapshot());
    }
}
