using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using Azure;
using Azure.Data.Tables;
using Azure.Storage.Queues;
using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Processing;

/// <summary>
/// A request to drain one partition (the <c>drain-jobs</c> queue message). With a
/// <see cref="Tenant"/> it drains that tenant's replay cursor on the partition instead of the
/// live checkpoint; messages written before cursors existed have none and mean the live drain.
/// </summary>
public sealed record DrainJob(int Partition, string? Reason = null, string? ParentOwner = null, string? Tenant = null)
{
    /// <summary>At most one job per key is pending: the partition, or the partition and the cursor's tenant.</summary>
    [JsonIgnore]
    public string PendingKey => Tenant is null
        ? Partition.ToString("D5", CultureInfo.InvariantCulture)
        : string.Concat(Partition.ToString("D5", CultureInfo.InvariantCulture), ":", Tenant);

    public string ToJson() => JsonSerializer.Serialize(this, DrainJobJsonContext.Default.DrainJob);

    public static DrainJob FromJson(string json) =>
        JsonSerializer.Deserialize(json, DrainJobJsonContext.Default.DrainJob) ?? throw new FormatException("empty drain job");
}

/// <summary>Where drain jobs go. At most one pending job per partition.</summary>
public interface IDrainJobQueue
{
    /// <summary>Enqueues a job unless one is already pending for its <see cref="DrainJob.PendingKey"/>; returns whether it did.</summary>
    Task<bool> TryEnqueueAsync(DrainJob job, CancellationToken cancellationToken = default) => TryEnqueueAsync(job, TimeSpan.Zero, cancellationToken);

    /// <summary>As <see cref="TryEnqueueAsync(DrainJob, CancellationToken)"/>, the job becoming visible to workers after <paramref name="delay"/>.</summary>
    Task<bool> TryEnqueueAsync(DrainJob job, TimeSpan delay, CancellationToken cancellationToken = default);

    /// <summary>Called when a job starts, so that the next one for its key may be enqueued.</summary>
    Task StartedAsync(DrainJob job, CancellationToken cancellationToken = default);
}

/// <summary>
/// Drain jobs on a Storage queue (the Functions' trigger). The pending marker is a row in the
/// leases table written before the message; it expires, so a lost message cannot block its
/// partition for longer than <see cref="MarkerTtl"/>.
/// </summary>
public sealed class StorageQueueDrainJobs : IDrainJobQueue
{
    private readonly QueueClient _queue;
    private readonly TableClient _markers;
    private readonly string _partitionKey;

    public StorageQueueDrainJobs(QueueClient queue, TableClient leasesTable, string logName, string consumerGroup)
    {
        _queue = queue;
        _markers = leasesTable;
        _partitionKey = $"pending|{logName}|{consumerGroup}";
    }

    public TimeSpan MarkerTtl { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>The deployment's drain jobs: the <c>drain-jobs</c> queue, markers in the <c>leases</c> table (the Functions app's and the gateway's pushes).</summary>
    public static StorageQueueDrainJobs For(Hosting.StorageClients storage, string logName, string consumerGroup) =>
        new(storage.Queues.GetQueueClient(storage.Names.DrainJobs), storage.Tables.GetTableClient(storage.Names.Leases), logName, consumerGroup);

    public async Task<bool> TryEnqueueAsync(DrainJob job, TimeSpan delay, CancellationToken cancellationToken = default)
    {
        string rowKey = job.PendingKey;
        try
        {
            var existing = await _markers.GetEntityIfExistsAsync<TableEntity>(_partitionKey, rowKey, cancellationToken: cancellationToken);
            if (existing.HasValue && existing.Value is { } marker)
            {
                var now = ServiceClock.Now(existing.GetRawResponse());
                if (marker.Timestamp is { } written && now - written < MarkerTtl)
                {
                    return false;
                }

                await _markers.UpdateEntityAsync(new TableEntity(_partitionKey, rowKey), marker.ETag, TableUpdateMode.Replace, cancellationToken);
            }
            else
            {
                await _markers.AddEntityAsync(new TableEntity(_partitionKey, rowKey), cancellationToken);
            }
        }
        catch (RequestFailedException ex) when (ex.Status is 409 or 412)
        {
            return false; // another dispatcher enqueued it
        }

        await _queue.SendMessageAsync(job.ToJson(), visibilityTimeout: delay > TimeSpan.Zero ? delay : null, cancellationToken: cancellationToken);
        return true;
    }

    public async Task StartedAsync(DrainJob job, CancellationToken cancellationToken = default)
    {
        try
        {
            await _markers.DeleteEntityAsync(_partitionKey, job.PendingKey, ETag.All, cancellationToken);
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
        }
    }
}

/// <summary>Drain jobs in process, for the local runner.</summary>
public sealed class InProcessDrainJobs : IDrainJobQueue
{
    private readonly Channel<DrainJob> _channel = Channel.CreateUnbounded<DrainJob>();
    private readonly ConcurrentDictionary<string, bool> _pending = new(StringComparer.Ordinal);

    public ChannelReader<DrainJob> Reader => _channel.Reader;

    public Task<bool> TryEnqueueAsync(DrainJob job, TimeSpan delay, CancellationToken cancellationToken = default)
    {
        if (!_pending.TryAdd(job.PendingKey, true))
        {
            return Task.FromResult(false);
        }

        if (delay <= TimeSpan.Zero)
        {
            return Task.FromResult(_channel.Writer.TryWrite(job));
        }

        _ = Task.Delay(delay, CancellationToken.None).ContinueWith(_ => _channel.Writer.TryWrite(job), TaskScheduler.Default);
        return Task.FromResult(true);
    }

    public Task StartedAsync(DrainJob job, CancellationToken cancellationToken = default)
    {
        _pending.TryRemove(job.PendingKey, out _);
        return Task.CompletedTask;
    }
}
