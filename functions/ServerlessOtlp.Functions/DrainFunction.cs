using System.Text.Json;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Functions;

/// <summary>
/// Queue <c>Drain</c>: runs the drain engine for the job's partition, or for a tenant's replay
/// cursor on it when the job names a tenant. When the time budget ends
/// with lag left, the engine has already released the lease; only then is the continuation
/// enqueued, so it never finds its parent still holding the partition. A drain that ends idle looks
/// at the log end once more after releasing (the hand-shake with the gateway's pushes, see
/// <see cref="DrainWakeup"/>); one that must retry later enqueues its own delayed job.
/// </summary>
public sealed class DrainFunction(ProcessingHost host, ILogger<DrainFunction> logger)
{
    [Function("Drain")]
    public Task RunAsync([QueueTrigger(StorageNames.DefaultDrainJobs, Connection = "AzureWebJobsStorage")] string message, CancellationToken cancellationToken) =>
        DrainAsync(message, cancellationToken);

    /// <summary>Returns null when the message is not a drain job (it is dropped, not retried).</summary>
    public async Task<DrainResult?> DrainAsync(string message, CancellationToken cancellationToken = default)
    {
        DrainJob job;
        try
        {
            job = DrainJob.FromJson(message);
        }
        catch (Exception ex) when (ex is JsonException or FormatException)
        {
            logger.LogError("Dropped a message that is not a drain job: {Error}", ex.Message);
            return null;
        }

        var runtime = await host.GetAsync(cancellationToken);
        if (job.Partition < 0 || job.Partition >= runtime.Services.Log.PartitionCount)
        {
            logger.LogError("Dropped a drain job for partition {Partition}: the log has {Count}", job.Partition, runtime.Services.Log.PartitionCount);
            return null;
        }

        if (job.Tenant != null && !TenantIds.IsValid(job.Tenant))
        {
            logger.LogError("Dropped a replay job for tenant {Tenant}: not a valid tenant id", job.Tenant);
            return null;
        }

        await runtime.Jobs.StartedAsync(job, cancellationToken);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var heartbeats = HeartbeatLoopAsync(runtime, stop.Token);
        DrainResult? result;
        try
        {
            result = job.Tenant is null
                ? await runtime.Services.Engine.DrainAsync(job.Partition, keepAlive: false, cancellationToken)
                : await runtime.Replay.DrainAsync(job, keepAlive: false, cancellationToken);
        }
        finally
        {
            await stop.CancelAsync();
            await heartbeats;
        }

        if (result is null)
        {
            logger.LogInformation("Replay cursor of tenant {Tenant} on partition {Partition} does not exist; nothing to do", job.Tenant, job.Partition);
            return null;
        }

        if (result.LagRemains)
        {
            bool enqueued = await runtime.Jobs.TryEnqueueAsync(new DrainJob(job.Partition, "continuation", runtime.Services.Drain.OwnerId, job.Tenant), cancellationToken);
            logger.LogInformation("Partition {Partition}: {End} after {Events} events; continuation {Enqueued}", job.Partition, result.End, result.Events, enqueued ? "enqueued" : "already pending");
        }
        else if (result.End == DrainEnd.NotClaimed && runtime.IsSlow())
        {
            // This instance is suspect: give the job back, later, for a healthy instance to take.
            await runtime.Jobs.TryEnqueueAsync(new DrainJob(job.Partition, "handed-back", runtime.Services.Drain.OwnerId, job.Tenant), RetryDelay, cancellationToken);
            logger.LogWarning("Partition {Partition}: not claimed, this instance is suspect (slow local work); job handed back", job.Partition);
        }
        else if (result.End == DrainEnd.RetryLater)
        {
            // Nothing else would come back to it before the Dispatch timer: retry it, later.
            bool enqueued = await runtime.Jobs.TryEnqueueAsync(new DrainJob(job.Partition, "retry", runtime.Services.Drain.OwnerId, job.Tenant), RetryDelay, cancellationToken);
            logger.LogWarning("Partition {Partition}: retry later from checkpoint {Checkpoint}; job {Enqueued}", job.Partition, result.Checkpoint, enqueued ? $"enqueued for {RetryDelay.TotalSeconds:0} s from now" : "already pending");
        }
        else if (result.End == DrainEnd.LeaseLost)
        {
            logger.LogWarning("Partition {Partition}: lease lost at checkpoint {Checkpoint}", job.Partition, result.Checkpoint);
        }
        else if (result.End == DrainEnd.Idle && job.Tenant is null
            && await DrainWakeup.LagAfterReleaseAsync(runtime.Services.Log, result, runtime.WaitBeforeRecheck, cancellationToken))
        {
            // An append a gateway attributed to this drain while it was ending: drain it now.
            bool enqueued = await runtime.Jobs.TryEnqueueAsync(new DrainJob(job.Partition, "recheck", runtime.Services.Drain.OwnerId), cancellationToken);
            logger.LogInformation("Partition {Partition}: data arrived as the drain ended; job {Enqueued}", job.Partition, enqueued ? "enqueued" : "already pending");
        }

        await MaintainAsync(runtime, cancellationToken);
        return result;
    }

    /// <summary>How long a partition whose destination failed transiently rests before its drain is retried.</summary>
    internal static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(30);

    /// <summary>The failure detector and the retry store ride on drains: no timer needs to run while data flows.</summary>
    private async Task MaintainAsync(ProcessingRuntime runtime, CancellationToken cancellationToken)
    {
        try
        {
            var (health, settled) = await runtime.MaintainIfDueAsync(cancellationToken);
            MaintenanceFunction.Report(logger, health, settled);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The drain itself succeeded; the Maintenance timer is the safety net.
            logger.LogWarning(ex, "Maintenance after a drain failed");
        }
    }

    /// <summary>
    /// A drain can outlast the failure detector's timeout: keep this worker's row fresh while it runs. The
    /// instance's concurrent drains share the row, so it is written once per period, not once per drain.
    /// </summary>
    private async Task HeartbeatLoopAsync(ProcessingRuntime runtime, CancellationToken cancellationToken)
    {
        var period = runtime.Health.SuspectAfter / 3;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    await runtime.HeartbeatIfDueAsync(period, cancellationToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    logger.LogWarning(ex, "Heartbeat failed");
                }

                await Task.Delay(period, cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
