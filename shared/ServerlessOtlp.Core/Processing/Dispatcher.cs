using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using ServerlessOtlp.Log;
using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Processing;

/// <summary>Where a partition stands.</summary>
public sealed record PartitionStatus(
    int Partition,
    LogPosition End,
    LogPosition Checkpoint,
    long Lag,
    string? LeaseOwner,
    DateTimeOffset? LeaseExpiresAt,
    bool LeaseClaimable,
    DateTimeOffset? CheckpointUpdatedAt);

/// <summary>
/// The Dispatch timer's logic: for each partition, lag = end of log − checkpoint; when there is
/// lag and nobody holds the lease, enqueue a drain job (at most one pending per partition).
/// The same for each active tenant replay cursor, whose lag is to its end.
/// </summary>
public sealed class Dispatcher
{
    private readonly IPartitionedLog _log;
    private readonly CheckpointStore _checkpoints;
    private readonly LeaseStore _leases;
    private readonly IDrainJobQueue _jobs;
    private readonly DrainOptions _options;
    private readonly ILogger _logger;

    public Dispatcher(IPartitionedLog log, CheckpointStore checkpoints, LeaseStore leases, IDrainJobQueue jobs, DrainOptions options, ILogger<Dispatcher>? logger = null)
    {
        _log = log;
        _checkpoints = checkpoints;
        _leases = leases;
        _jobs = jobs;
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>Reads every partition's position, checkpoint and lease.</summary>
    public async Task<IReadOnlyList<PartitionStatus>> GetStatusAsync(CancellationToken cancellationToken = default)
    {
        var checkpoints = (await _checkpoints.ListAsync(_log.Name, _options.ConsumerGroup, cancellationToken)).ToDictionary(c => c.Partition);
        var leases = (await _leases.ListAsync(_log.Name, _options.ConsumerGroup, cancellationToken)).ToDictionary(l => l.Partition);
        var ends = await Task.WhenAll(Enumerable.Range(0, _log.PartitionCount).Select(p => _log.GetEndAsync(p, cancellationToken)));
        var result = new List<PartitionStatus>(_log.PartitionCount);
        for (int p = 0; p < _log.PartitionCount; p++)
        {
            var checkpoint = checkpoints.TryGetValue(p, out var c) ? new LogPosition(c.Position) : LogPosition.Start;
            leases.TryGetValue(p, out var lease);
            result.Add(new PartitionStatus(
                p,
                ends[p],
                checkpoint,
                _log.Lag(checkpoint, ends[p]),
                lease?.IsClaimable == false ? lease.Owner : null,
                lease?.IsClaimable == false ? lease.ExpiresAt : null,
                lease?.IsClaimable ?? true,
                c?.UpdatedAt));
        }

        return result;
    }

    /// <summary>Every replay cursor of the log with its lag to its end and its lease (done ones included).</summary>
    public async Task<IReadOnlyList<ReplayCursorStatus>> GetReplayCursorsAsync(CancellationToken cancellationToken = default)
    {
        var result = new List<ReplayCursorStatus>();
        foreach (var cursor in await _checkpoints.ListCursorsAsync(_log.Name, cancellationToken))
        {
            var lease = cursor.IsDone ? null : await _leases.ReadAsync(_log.Name, cursor.Group, cursor.Partition, cancellationToken);
            bool claimable = lease?.IsClaimable ?? true;
            result.Add(new ReplayCursorStatus(
                cursor,
                _log.Lag(new LogPosition(cursor.Position), new LogPosition(cursor.End)),
                claimable ? null : lease!.Owner,
                claimable ? null : lease!.ExpiresAt,
                claimable));
        }

        return result;
    }

    /// <summary>Enqueues drain jobs for active replay cursors nobody drains; returns them.</summary>
    public async Task<IReadOnlyList<ReplayCursor>> DispatchReplayCursorsAsync(CancellationToken cancellationToken = default)
    {
        var enqueued = new List<ReplayCursor>();
        foreach (var status in await GetReplayCursorsAsync(cancellationToken))
        {
            var cursor = status.Cursor;
            if (!cursor.IsDone && status.LeaseClaimable
                && await _jobs.TryEnqueueAsync(new DrainJob(cursor.Partition, "replay", Tenant: cursor.Tenant), cancellationToken))
            {
                enqueued.Add(cursor);
            }
        }

        if (enqueued.Count > 0)
        {
            _logger.LogDebug("Dispatched replay cursors {Cursors}", string.Join(",", enqueued.Select(c => $"{c.Tenant}/{c.Partition}")));
        }

        return enqueued;
    }

    /// <summary>Enqueues drain jobs for partitions with lag and no live lease, then for replay cursors; returns the partitions enqueued (live drains).</summary>
    public async Task<IReadOnlyList<int>> DispatchAsync(CancellationToken cancellationToken = default)
    {
        var enqueued = new List<int>();
        foreach (var status in await GetStatusAsync(cancellationToken))
        {
            if (status.Lag > 0 && status.LeaseClaimable && await _jobs.TryEnqueueAsync(new DrainJob(status.Partition, "lag"), cancellationToken))
            {
                enqueued.Add(status.Partition);
            }
        }

        if (enqueued.Count > 0)
        {
            _logger.LogDebug("Dispatched drain jobs for partitions {Partitions}", string.Join(",", enqueued));
        }

        await DispatchReplayCursorsAsync(cancellationToken);
        return enqueued;
    }
}
