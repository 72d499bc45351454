using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using ServerlessOtlp.Log;
using ServerlessOtlp.Performance;
using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Processing;

/// <summary>How a drain job ended.</summary>
public enum DrainEnd
{
    /// <summary>Another instance holds the lease.</summary>
    NotClaimed,

    /// <summary>Nothing new for the idle timeout: caught up.</summary>
    Idle,

    /// <summary>The time budget ran out while data remained: the caller continues the job.</summary>
    BudgetExhausted,

    /// <summary>A destination failed transiently; the partition is retried later from its checkpoint.</summary>
    RetryLater,

    /// <summary>Another instance took the lease (or an operator replayed): stopped without writing.</summary>
    LeaseLost,

    /// <summary>The host is stopping.</summary>
    Cancelled,

    /// <summary>A bounded drain (a tenant's replay cursor) reached its end position and checkpointed it.</summary>
    ReachedEnd,

    /// <summary>
    /// This node judged itself too slow (<see cref="DrainEngine.StandingDown"/>): it checkpointed what it had
    /// settled and released the partition for a healthy instance; data remains.
    /// </summary>
    StoodDown,
}

public sealed record DrainResult(int Partition, DrainEnd End, long Events, long Items, long DeadLettered, LogPosition Checkpoint)
{
    /// <summary>True when data is known to remain and the job should be continued at once.</summary>
    public bool LagRemains => End is DrainEnd.BudgetExhausted or DrainEnd.StoodDown;
}

/// <summary>
/// Drains one partition: claim its lease → fence its checkpoint → read after the checkpoint in
/// batches → process each event → checkpoint → repeat until idle or out of budget → release.
/// At-least-once: the checkpoint moves only past events that were delivered or dead-lettered.
/// The lease is renewed on its own loop; when it is lost the drain stops without another write
/// (every checkpoint update is conditional on the row's ETag, so a stalled drainer cannot write).
/// </summary>
public sealed class DrainEngine
{
    /// <summary>Longest a lease release may take when the drain stopped because its host is stopping.</summary>
    internal static readonly TimeSpan ReleaseOnStopTimeout = TimeSpan.FromSeconds(3);

    /// <summary>Longest a lease release may take otherwise (the SDK would wait 100 s per try).</summary>
    internal static readonly TimeSpan ReleaseTimeout = TimeSpan.FromSeconds(30);

    private readonly IPartitionedLog _log;
    private readonly CheckpointStore _checkpoints;
    private readonly LeaseStore _leases;
    private readonly IEventProcessor _processor;
    private readonly DeadLetterStore _deadLetters;
    private readonly DrainOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly DrainMemoryBudget _memory;
    private readonly DrainMetrics _metrics;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, byte> _draining = new();
    private long _eventsTotal;
    private long _itemsTotal;
    private long _deadLetteredTotal;

    public DrainEngine(IPartitionedLog log, CheckpointStore checkpoints, LeaseStore leases, IEventProcessor processor, DeadLetterStore deadLetters, DrainOptions options, ILogger<DrainEngine>? logger = null, TimeProvider? time = null, DrainMemoryBudget? memory = null, DrainMetrics? metrics = null)
    {
        options.Validate();
        _log = log;
        _checkpoints = checkpoints;
        _leases = leases;
        _processor = processor;
        _deadLetters = deadLetters;
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        _memory = memory ?? new DrainMemoryBudget(options.MemoryBudgetBytes);
        _metrics = metrics ?? SharedMetrics;
    }

    /// <summary>One meter for the engines of a process that are not handed theirs (replay cursors make their own engines).</summary>
    private static readonly DrainMetrics SharedMetrics = new();

    /// <summary>The byte budget this engine's reads are taken from (shared with the process's other drains).</summary>
    public DrainMemoryBudget Memory => _memory;

    /// <summary>The node's recorders of queue wait and end-to-end latency for the performance model.</summary>
    public NodePerformance? Performance { get; init; }

    public DrainOptions Options => _options;

    public IPartitionedLog Log => _log;

    public long EventsTotal => Interlocked.Read(ref _eventsTotal);

    public long ItemsTotal => Interlocked.Read(ref _itemsTotal);

    public long DeadLetteredTotal => Interlocked.Read(ref _deadLetteredTotal);

    /// <summary>
    /// When it answers true (the node's failure detector judged it slow), no partition is claimed and
    /// running drains end at their next batch boundary (<see cref="DrainEnd.StoodDown"/>).
    /// </summary>
    public Func<bool>? StandingDown { get; set; }

    /// <summary>Runs one drain job for <paramref name="partition"/>.</summary>
    /// <param name="keepAlive">When true (the local runner), the job does not end on its time budget while data keeps arriving.</param>
    public Task<DrainResult> DrainAsync(int partition, bool keepAlive = false, CancellationToken cancellationToken = default) =>
        DrainAsync(partition, keepAlive, stopAt: null, cancellationToken);

    /// <summary>Runs one drain job for <paramref name="partition"/>, optionally bounded.</summary>
    /// <param name="keepAlive">When true (the local runner), the job does not end on its time budget while data keeps arriving.</param>
    /// <param name="stopAt">
    /// For a replay cursor: events at or after this position are left alone; the checkpoint moves
    /// to it and the job ends with <see cref="DrainEnd.ReachedEnd"/>. Everything before it was
    /// settled by the live drain once, so corrupt records there are not dead-lettered again.
    /// </param>
    public async Task<DrainResult> DrainAsync(int partition, bool keepAlive, LogPosition? stopAt, CancellationToken cancellationToken = default)
    {
        // The lease lets its owner claim it again (a restarted drain resumes at once), and every drain of
        // this process has the same owner id: a second job for a partition this process is draining
        // (a Functions instance runs up to 8) must not take the lease from the first.
        if (StandingDown?.Invoke() == true || !_draining.TryAdd(partition, 0))
        {
            return new DrainResult(partition, DrainEnd.NotClaimed, 0, 0, 0, LogPosition.Start);
        }

        try
        {
            return await DrainClaimedAsync(partition, keepAlive, stopAt, cancellationToken);
        }
        finally
        {
            _draining.TryRemove(partition, out _);
        }
    }

    private async Task<DrainResult> DrainClaimedAsync(int partition, bool keepAlive, LogPosition? stopAt, CancellationToken cancellationToken)
    {
        string logName = _log.Name, group = _options.ConsumerGroup, owner = _options.OwnerId;
        var claim = await _leases.TryClaimAsync(logName, group, partition, owner, _options.LeaseTtl, cancellationToken);
        if (!claim.Claimed || claim.Lease == null)
        {
            return new DrainResult(partition, DrainEnd.NotClaimed, 0, 0, 0, LogPosition.Start);
        }

        var lease = claim.Lease;
        FencedCheckpoint fenced;
        try
        {
            fenced = await _checkpoints.FenceAsync(logName, group, partition, owner, lease.Epoch, cancellationToken);
        }
        catch (LeaseLostException)
        {
            return new DrainResult(partition, DrainEnd.LeaseLost, 0, 0, 0, LogPosition.Start);
        }

        using var lost = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var renewal = RenewLoopAsync(lease, lost);
        long events = 0, items = 0, deadLettered = 0;
        var position = new LogPosition(fenced.Position);
        var end = DrainEnd.Idle;
        Exception? failure = null;
        long started = _time.GetTimestamp();
        long lastData = started;
        var hooks = _processor.Hooks;
        var stateful = hooks.State;
        var deferring = hooks.Deferral;
        var checkpointed = position;
        long held = 0; // budget behind the batch in hand, released once it is settled
        deferring?.Reset(partition, new DeferralLimits(_log.PartitionCount, _options.TailMaxBufferedSpans, _options.TailDecisionCacheSize));

        // Destination batching: items merged across events, sent before every checkpoint (and on its limits).
        using var buffering = hooks.Buffering?.BeginBuffering(partition);

        // Deferred items (spans waiting for their trace's decision) hold the checkpoint back at their event.
        LogPosition Settled(LogPosition processed) =>
            deferring?.PendingFloor(partition) is { } floor && floor < processed ? floor : processed;

        // False when a buffered batch could be neither sent nor parked: the checkpoint stays below its
        // first event, and the drain must stop and read from there again later.
        async Task<bool> CheckpointAsync(LogPosition to)
        {
            bool sent = true;
            if (buffering != null)
            {
                var settled = await FlushBatchesAsync(buffering, lost.Token);
                deadLettered += settled.DeadLettered;
                if (settled.RetryFrom is { } from)
                {
                    sent = false;
                    to = from < to ? from : to;
                }
            }

            if (to > checkpointed)
            {
                // The processor's state is saved first: it may run ahead of the checkpoint, never behind.
                string? state = stateful == null ? null : await stateful.SaveStateAsync(fenced, lost.Token);
                await _checkpoints.UpdateAsync(fenced, to.Value, state, lost.Token);
                checkpointed = to;
            }

            return sent;
        }

        try
        {
            if (stateful != null)
            {
                await stateful.RestoreStateAsync(fenced, lost.Token);
            }

            while (true)
            {
                lost.Token.ThrowIfCancellationRequested();
                if (position >= stopAt)
                {
                    end = DrainEnd.ReachedEnd;
                    break;
                }

                ReadBatch batch;
                (batch, held) = await ReadWithinBudgetAsync(partition, position, lease.Epoch, lost.Token);
                if (stopAt is { } limit)
                {
                    batch = Bound(batch, limit);
                }

                if (batch.Events.Count == 0)
                {
                    _memory.Release(held);
                    held = 0;

                    // At the end of the log deferred items are decided by the clock.
                    var flushed = await FlushDeferredAsync(partition, deferring, endOfLog: true, lost.Token);
                    deadLettered += flushed.DeadLettered;
                    if (flushed.StopForRetry)
                    {
                        end = DrainEnd.RetryLater;
                        break;
                    }

                    // Also records moving over an empty region (a sealed segment's end).
                    position = batch.Next;
                    if (!await CheckpointAsync(Settled(position)))
                    {
                        end = DrainEnd.RetryLater;
                        break;
                    }

                    if (_time.GetElapsedTime(lastData) >= _options.IdleTimeout && deferring?.HasPending(partition) != true)
                    {
                        end = DrainEnd.Idle;
                        break;
                    }

                    await Task.Delay(_options.PollInterval, _time, lost.Token);
                    continue;
                }

                lastData = _time.GetTimestamp();
                _metrics.Read(batch.Events, _time.GetUtcNow(), Performance?[PerformanceComponents.QueueWait]);
                var (processed, fate) = await ProcessBatchAsync(partition, batch, deadLetterCorrupt: stopAt == null, lost.Token);
                var checkpointTo = Settled(processed);
                if (!fate.StopForRetry)
                {
                    var flushed = await FlushDeferredAsync(partition, deferring, endOfLog: false, lost.Token);

                    // A failed flush took its traces out of the buffer: keep the checkpoint below them.
                    checkpointTo = flushed.StopForRetry ? checkpointTo : Settled(processed);
                    fate = new BatchFate(fate.DeadLettered + flushed.DeadLettered, flushed.StopForRetry);
                }

                foreach (var e in batch.Events)
                {
                    if (e.Position >= processed)
                    {
                        break;
                    }

                    events++;
                    items += e.Properties?.ItemCount ?? 0;
                    if (e.IsCorrupt)
                    {
                        deadLettered++;
                    }
                }

                deadLettered += fate.DeadLettered;
                bool sent = await CheckpointAsync(checkpointTo);
                _metrics.Settled(batch.Events, checkpointed, _time.GetUtcNow(), Performance?[PerformanceComponents.EndToEnd]);
                position = processed;
                _memory.Release(held); // settled: checkpointed, or handed to the deferral buffer (capped on its own)
                held = 0;

                if (fate.StopForRetry || !sent)
                {
                    end = DrainEnd.RetryLater;
                    break;
                }

                if (!keepAlive && _time.GetElapsedTime(started) >= _options.TimeBudget)
                {
                    end = DrainEnd.BudgetExhausted;
                    break;
                }

                if (StandingDown?.Invoke() == true)
                {
                    end = DrainEnd.StoodDown;
                    break;
                }
            }

            // A graceful end hands over no undecided items: stop reading, keep deciding until nothing
            // is pending (at most one decision wait), then checkpoint, so the next owner repeats nothing.
            while (end is DrainEnd.BudgetExhausted or DrainEnd.ReachedEnd or DrainEnd.StoodDown && deferring?.HasPending(partition) == true)
            {
                var flushed = await FlushDeferredAsync(partition, deferring, endOfLog: true, lost.Token);
                deadLettered += flushed.DeadLettered;
                if (flushed.StopForRetry)
                {
                    end = DrainEnd.RetryLater;
                    break;
                }

                if (!await CheckpointAsync(Settled(position)))
                {
                    end = DrainEnd.RetryLater;
                    break;
                }

                if (deferring.HasPending(partition))
                {
                    await Task.Delay(_options.PollInterval, _time, lost.Token);
                }
            }
        }
        catch (LeaseLostException)
        {
            end = DrainEnd.LeaseLost;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            end = DrainEnd.LeaseLost; // the renewal loop cancelled us
        }
        catch (OperationCanceledException)
        {
            end = DrainEnd.Cancelled;
        }
        catch (Exception ex)
        {
            // Storage or log failure: release the lease so that the partition is not paused for a TTL, then report it.
            failure = ex;
            end = DrainEnd.RetryLater;
        }
        finally
        {
            _memory.Release(held);
            deferring?.Reset(partition, null); // whatever is still deferred is re-read by the next owner
            await lost.CancelAsync();
            await renewal;
            Interlocked.Add(ref _eventsTotal, events);
            Interlocked.Add(ref _itemsTotal, items);
            Interlocked.Add(ref _deadLetteredTotal, deadLettered);
        }

        if (end != DrainEnd.LeaseLost)
        {
            try
            {
                // Bounded: a lease that cannot be released expires by design, and a process told to stop
                // must not spend the SDK's retries on storage that may be gone already.
                using var release = new CancellationTokenSource(end == DrainEnd.Cancelled ? ReleaseOnStopTimeout : ReleaseTimeout);
                await _leases.ReleaseAsync(lease, release.Token);
            }
            catch (Exception ex)
            {
                _logger.LogWarning("Partition {Partition}: releasing the lease failed ({Reason}); it will expire", partition, ExceptionText.Summary(ex));
                _logger.LogDebug(ex, "Partition {Partition}: releasing the lease failed", partition);
            }
        }
        else
        {
            _logger.LogWarning("Partition {Partition}: lease lost; stopped at {Position} without further writes", partition, position);
        }

        if (failure != null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        }

        return new DrainResult(partition, end, events, items, deadLettered, checkpointed);
    }

    /// <summary>
    /// Reads after <paramref name="from"/> no more than the budget granted. A log returns at least one
    /// event, so the first may be larger than the grant: it is kept (not read again, which on Event Hubs
    /// would reopen the receiver) and waits alone for its size (at most the whole budget), so held
    /// bytes never exceed the budget and nothing stalls; anything after it is read again next time.
    /// </summary>
    private async Task<(ReadBatch Batch, long Held)> ReadWithinBudgetAsync(int partition, LogPosition from, long epoch, CancellationToken cancellationToken)
    {
        long grant = await _memory.AcquireAsync(Math.Min(_options.BatchMaxBytes, MinReadGrant), _options.BatchMaxBytes, cancellationToken);
        try
        {
            var batch = await _log.ReadAsync(partition, from, _options.BatchMaxEvents, (int)grant, epoch, cancellationToken);
            long size = 0;
            foreach (var e in batch.Events)
            {
                size += e.Body.Length;
            }

            if (size <= grant)
            {
                _memory.Release(grant - size); // hold what was read, not what was asked
                return (batch, size);
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
                return (new ReadBatch(batch.Events.Take(keep).ToList(), batch.Events[keep - 1].Next), kept);
            }

            var first = batch.Events[0];
            batch = batch.Events.Count == 1 ? batch : new ReadBatch([first], first.Next);
            _memory.Release(grant);
            grant = 0;
            grant = await _memory.AcquireAsync(first.Body.Length, first.Body.Length, cancellationToken);
            return (batch, grant);
        }
        catch
        {
            _memory.Release(grant);
            throw;
        }
    }

    /// <summary>The least a read waits for: small enough to share, large enough not to read event by event.</summary>
    private const long MinReadGrant = 64 * 1024;

    private readonly record struct BatchFate(int DeadLettered, bool StopForRetry);

    /// <summary>Lets a deferring processor decide and deliver what is due, under the same export cap as an event.</summary>
    /// <summary>Sends the buffered batches, within the export cap; a batch the cap cut off is read again.</summary>
    private async Task<BatchSettlement> FlushBatchesAsync(DestinationBatches batches, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ExportTimeout);
        return await batches.FlushAsync(timeout.Token);
    }

    private async Task<BatchFate> FlushDeferredAsync(int partition, IEventDeferral? deferring, bool endOfLog, CancellationToken cancellationToken)
    {
        if (deferring?.HasPending(partition) != true)
        {
            return default;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ExportTimeout);
        try
        {
            var flushed = await deferring.FlushDueAsync(partition, _time.GetUtcNow(), endOfLog, timeout.Token);
            return new BatchFate(flushed.DeadLettered, flushed.RetryLater);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new BatchFate(0, true); // the export cap, not the lease, ran out
        }
    }

    /// <summary>Processes events in order; returns the position up to which everything is settled.</summary>
    private async Task<(LogPosition Settled, BatchFate Fate)> ProcessBatchAsync(int partition, ReadBatch batch, bool deadLetterCorrupt, CancellationToken cancellationToken)
    {
        int deadLettered = 0;
        foreach (var e in batch.Events)
        {
            if (e.IsCorrupt)
            {
                if (!deadLetterCorrupt)
                {
                    continue;
                }

                await _deadLetters.WriteAsync(null, null, null, partition, e.Position.Value, e.CorruptReason!, e.Body, cancellationToken);
                _logger.LogWarning("Partition {Partition}: corrupt record at {Position} dead-lettered: {Reason}", partition, e.Position, e.CorruptReason);
                continue;
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.ExportTimeout);
            EventFate fate;
            try
            {
                fate = await _processor.ProcessAsync(partition, e, timeout.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                fate = EventFate.RetryLater; // the export cap, not the lease, ran out
            }

            switch (fate)
            {
                case EventFate.DeadLettered:
                    deadLettered++;
                    break;
                case EventFate.RetryLater:
                    return (e.Position, new BatchFate(deadLettered, true));
            }
        }

        return (batch.Next, new BatchFate(deadLettered, false));
    }

    /// <summary>The part of a batch before <paramref name="limit"/>; when the read went past it, the batch ends at it.</summary>
    private static ReadBatch Bound(ReadBatch batch, LogPosition limit)
    {
        if (batch.Next <= limit)
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

    private async Task RenewLoopAsync(Lease lease, CancellationTokenSource lost)
    {
        var period = _options.LeaseTtl / 3;
        try
        {
            while (!lost.IsCancellationRequested)
            {
                await Task.Delay(period, _time, lost.Token);
                bool renewed;
                try
                {
                    renewed = await _leases.RenewAsync(lease, lost.Token);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // A failed renewal is not yet a lost lease; the next try may succeed within the TTL.
                    _logger.LogWarning("Partition {Partition}: lease renewal failed ({Reason})", lease.Partition, ExceptionText.Summary(ex));
                    _logger.LogDebug(ex, "Partition {Partition}: lease renewal failed", lease.Partition);
                    continue;
                }

                if (!renewed)
                {
                    await lost.CancelAsync();
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
