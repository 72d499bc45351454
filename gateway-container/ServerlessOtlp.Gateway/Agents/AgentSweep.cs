namespace ServerlessOtlp.Gateway.Agents;

/// <summary>
/// Deletes agents not seen for <see cref="ServerlessOtlp.Agents.AgentLivenessOptions.RemoveAfter"/> (24 h by
/// default), every <see cref="OpAmpOptions.SweepInterval"/> on the gateway's clock. Every replica sweeps; a
/// delete is conditional on the row's ETag, so an agent that polled meanwhile is kept and two replicas
/// deleting the same row is harmless.
/// </summary>
internal sealed class AgentSweep(AgentRegistry registry, OpAmpOptions options, TimeProvider time, OpAmpMetrics metrics, ILogger<AgentSweep> log) : BackgroundService
{
    /// <summary>One pass; returns how many agents were removed.</summary>
    public async Task<int> SweepOnceAsync(CancellationToken cancellationToken = default)
    {
        var cutoff = time.GetUtcNow() - options.RemoveAfter;
        metrics.Storage("sweep");
        int removed = 0;
        foreach (var agent in await registry.Store.ListSeenBeforeAsync(cutoff, cancellationToken))
        {
            metrics.Storage("delete");
            if (await registry.Store.DeleteAsync(agent.Tenant, agent.InstanceUid, agent.ETag, cancellationToken))
            {
                registry.Forget(agent.Tenant, agent.InstanceUid);
                removed++;
            }
        }

        return removed;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.SweepInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    int removed = await SweepOnceAsync(stoppingToken);
                    if (removed > 0)
                    {
                        log.LogInformation("removed {Count} agents not seen for {Age}", removed, options.RemoveAfter);
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    log.LogWarning("agent sweep failed: {Error}", ex.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
