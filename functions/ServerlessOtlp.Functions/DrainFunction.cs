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
/// enqueued, so it never finds its parent still holding the partition.
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
        }
        else if (result.LagRemains)
        {
            bool enqueued = await runtime.Jobs.TryEnqueueAsync(new DrainJob(job.Partition, "continuation", runtime.Services.Drain.OwnerId, job.Tenant), cancellationToken);
            logger.LogInformation("Partition {Partition}: budget used after {Events} events; continuation {Enqueued}", job.Partition, result.Events, enqueued ? "enqueued" : "already pending");
        }
        else if (result.End is DrainEnd.RetryLater or DrainEnd.LeaseLost)
        {
            logger.LogWarning("Partition {Partition}: {End} at checkpoint {Checkpoint}", job.Partition, result.End, result.Checkpoint);
        }

        return result;
    }

    /// <summary>A drain can outlast the failure detector's timeout: keep this worker's row fresh while it runs.</summary>
    private async Task HeartbeatLoopAsync(ProcessingRuntime runtime, CancellationToken cancellationToken)
    {
        var period = runtime.Health.SuspectAfter / 3;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    await runtime.HeartbeatAsync(cancellationToken);
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
