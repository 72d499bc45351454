using ServerlessOtlp.Gateway.Ingest;
using ServerlessOtlp.Gateway.Telemetry;
using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Gateway.Health;

/// <summary>
/// Writes this gateway's heartbeat to the nodes table, and checks readiness on the same beat. A failed
/// heartbeat is logged, never a reason to leave the ingress: readiness follows the log and tenant lookups.
/// </summary>
internal sealed class GatewayHeartbeat(
    NodeStore? nodes,
    Readiness readiness,
    GatewayOptions options,
    GatewayMetrics metrics,
    IngestService ingest,
    ILogger<GatewayHeartbeat> logger) : BackgroundService
{
    private static readonly string Version = typeof(GatewayHeartbeat).Assembly.GetName().Version?.ToString() ?? "0";
    private static readonly TimeSpan FinalBeatTimeout = TimeSpan.FromSeconds(3);
    private readonly DateTimeOffset _started = DateTimeOffset.UtcNow;
    private int _failures;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.HeartbeatInterval);
        do
        {
            await readiness.CheckAsync(stoppingToken);
            await BeatAsync("alive", stoppingToken);
        }
        while (await WaitAsync(timer, stoppingToken));
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);

        // Bounded well inside the host's shutdown time: storage may be gone already, and the health
        // sweep judges a node by its heartbeat's age anyway.
        using var final = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        final.CancelAfter(FinalBeatTimeout);
        try
        {
            await BeatAsync("stopped", final.Token);
        }
        catch (OperationCanceledException)
        {
            logger.LogWarning("The final heartbeat was abandoned after {Seconds} s", FinalBeatTimeout.TotalSeconds);
        }
    }


    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken token)
    {
        try
        {
            return await timer.WaitForNextTickAsync(token);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private async Task BeatAsync(string status, CancellationToken cancellationToken)
    {
        if (nodes == null)
        {
            return;
        }

        try
        {
            await nodes.HeartbeatAsync(
                new NodeHeartbeat(
                    NodeRoles.Gateway,
                    options.NodeId,
                    Version,
                    Environment.MachineName,
                    _started,
                    status,
                    new Dictionary<string, long>
                    {
                        ["accepted"] = metrics.AcceptedTotal,
                        ["refused"] = metrics.RefusedTotal,
                        ["inFlightBytes"] = ingest.Budget.Used,
                        ["avgResponseMicros"] = metrics.AppendTime.AverageMicroseconds,
                    },
                    metrics.Performance.Snapshot()),
                cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // One line per failure (a storage outage repeats it every beat); the exception at debug.
            _failures++;
            logger.LogWarning("Heartbeat failed ({Failures} in a row): {Reason}", _failures, ex.Message.Split('\n')[0].Trim());
            logger.LogDebug(ex, "Heartbeat failed");
            return;
        }

        _failures = 0;
    }
}
