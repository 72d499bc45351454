using ServerlessOtlp.Log;

namespace ServerlessOtlp.Processing;

/// <summary>
/// A partition session's reads: each takes its bytes from the process's drain memory budget and
/// says how much it holds, which the session gives back once the batch is settled.
/// </summary>
internal sealed class BudgetedReader(IPartitionedLog log, DrainMemoryBudget memory, DrainOptions options, int partition, FencingToken fencing, LogPosition? stopAt)
{
    /// <summary>The least a read waits for: small enough to share, large enough not to read event by event.</summary>
    private const long MinReadGrant = 64 * 1024;

    private readonly IPartitionedLog _log = log;
    private readonly DrainMemoryBudget _memory = memory;
    private readonly DrainOptions _options = options;
    private readonly int _partition = partition;
    private readonly FencingToken _fencing = fencing;
    private readonly LogPosition? _stopAt = stopAt;

    /// <summary>
    /// Reads after <paramref name="from"/> no more than the budget granted. A log returns at least one event,
    /// so the first may be larger than the grant: it is kept (not read again, which on Event Hubs
    /// would reopen the receiver) and waits alone for its size (at most the whole budget), so held
    /// bytes never exceed the budget and nothing stalls; anything after it is read again next time.
    /// </summary>
    public async Task<(ReadBatch Batch, long Held)> ReadAsync(LogPosition from, CancellationToken cancellationToken)
    {
        long grant = await _memory.AcquireAsync(Math.Min(_options.BatchMaxBytes, MinReadGrant), _options.BatchMaxBytes, cancellationToken);
        try
        {
            var batch = await _log.ReadAsync(_partition, from, _options.BatchMaxEvents, (int)grant, _fencing, cancellationToken);
            long size = 0;
            foreach (var e in batch.Events)
            {
                size += e.Body.Length;
            }

            if (size <= grant)
            {
                _memory.Release(grant - size); // hold what was read, not what was asked
                return (Bounded(batch), size);
            }

            // A log that overshoots its last event: keep the events that fit (at least the first).
            int keep = 0;
            long kept = 0;
            while (keep < batch.Events.Count && kept + batch.Events[keep].Body.Length <= grant)
            {
                kept += batch.Events[keep++].Body.Length;
            }

            if (keep > 0)
            {
                _memory.Release(grant - kept);
                return (Bounded(new ReadBatch(batch.Events.Take(keep).ToList(), batch.Events[keep - 1].Next)), kept);
            }

            var first = batch.Events[0];
            batch = batch.Events.Count == 1 ? batch : new ReadBatch([first], first.Next);
            _memory.Release(grant);
            grant = 0;
            grant = await _memory.AcquireAsync(first.Body.Length, first.Body.Length, cancellationToken);
            return (Bounded(batch), grant);
        }
        catch
        {
            _memory.Release(grant);
            throw;
        }
    }

    /// <summary>The part of a batch before the stop position; when the read went past it, the batch ends at it.</summary>
    private ReadBatch Bounded(ReadBatch batch)
    {
        if (_stopAt is not { } limit || batch.Next <= limit)
        {
            return batch;
        }

        int keep = 0;
        while (keep < batch.Events.Count && batch.Events[keep].Position < limit)
        {
            keep++;
        }

        return new ReadBatch(keep == batch.Events.Count ? batch.Events : batch.Events.Take(keep).ToList(), limit);
    }
}
