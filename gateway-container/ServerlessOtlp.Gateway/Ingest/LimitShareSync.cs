namespace ServerlessOtlp.Gateway.Ingest;

/// <summary>Runs <see cref="TenantLimitShares.SyncAsync"/> every interval; a failed sync keeps the last shares.</summary>
internal sealed class LimitShareSync(TenantLimitShares shares, TimeSpan interval, ILogger<LimitShareSync> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval);
        int failures = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await shares.SyncAsync(stoppingToken);
                    failures = 0;
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // One line, then quiet: an outage of the nodes table must not flood the log.
                    if (failures++ == 0)
                    {
                        logger.LogWarning("Limit share sync failed; keeping the last shares until the nodes table answers: {Message}", ex.Message);
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
