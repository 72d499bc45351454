using Microsoft.Extensions.Logging;
using ServerlessOtlp.Log;
using ServerlessOtlp.Performance;
using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Processing;

/// <summary>
/// One claim of one partition (as <c>EventProcessor&lt;T&gt;</c>'s partition processor): the steps
/// are <see cref="RunAsync">claim</see> → <see cref="ReadUntilEndAsync">run</see> (read, process,
/// <see cref="FlushDeferredAsync">flush deferred</see>, <see cref="CheckpointAsync">checkpoint</see>)
/// → <see cref="HandOverDeferredAsync">hand over deferred items</see> on a graceful end →
/// <see cref="CompleteAsync">complete</see> (release the lease). At-least-once: the checkpoint moves
/// only past events that were delivered or dead-lettered, never past items still deferred or
/// buffered. The lease is renewed on its own loop; when it is lost the session stops without
/// another write (every checkpoint update is conditional on the row's ETag).
/// </summary>
internal sealed class PartitionSession
{
    /// <summary>Longest a lease release may take when the drain stopped because its host is stopping.</summary>
    private static readonly TimeSpan ReleaseOnStopTimeout = TimeSpan.FromSeconds(3);

    /// <summary>Longest a lease release may take otherwise (the SDK would wait 100 s per try).</summary>
    private static readonly TimeSpan ReleaseTimeout = TimeSpan.FromSeconds(30);

    private readonly DrainEngine _engine;
    private readonly DrainOptions _options;
    private readonly TimeProvider _time;
    private readonly DrainMemoryBudget _memory;
    private readonly int _partition;
    private readonly bool _keepAlive;
    private readonly LogPosition? _stopAt;
    private readonly Lease _lease;
    private readonly FencedCheckpoint _fenced;
    private readonly PartitionHooks _hooks;
    private readonly CancellationTokenSource _lost;
    private readonly BudgetedReader _reader;
    private readonly long _started;
    private DestinationBatches? _buffering;
    private LogPosition _position;
    private LogPosition _checkpointed;
    private long _lastData;
    private long _held; // budget behind the batch in hand, released once it is settled
    private long _events;
    private long _items;
    private long _deadLettered;

    private PartitionSession(DrainEngine engine, int partition, bool keepAlive, LogPosition? stopAt, Lease lease, FencedCheckpoint fenced, CancellationTokenSource lost)
    {
        _engine = engine;
        _options = engine.Options;
        _time = engine.Time;
        _memory = engine.Memory;
        _partition = partition;
        _keepAlive = keepAlive;
        _stopAt = stopAt;
        _lease = lease;
        _fenced = fenced;
        _hooks = engine.Processor.Hooks;
        _lost = lost;
        _reader = new BudgetedReader(engine.Log, _memory, _options, partition, FencingToken.FromEpoch(lease.Epoch), stopAt);
        _position = _checkpointed = new LogPosition(fenced.Position);
        _started = _lastData = _time.GetTimestamp();
    }

    /// <summary>The token of the claim: cancelled when the lease is lost or the host stops.</summary>
    private CancellationToken Token => _lost.Token;

    /// <summary>Claims the partition, runs the claim to its end and completes it.</summary>
    public static async Task<DrainResult> RunAsync(DrainEngine engine, int partition, bool keepAlive, LogPosition? stopAt, CancellationToken cancellationToken)
    {
        string logName = engine.Log.Name, group = engine.Options.ConsumerGroup, owner = engine.Options.OwnerId;
        var claim = await engine.Leases.TryClaimAsync(logName, group, partition, owner, engine.Options.LeaseTtl, cancellationToken);
        if (!claim.Claimed || claim.Lease == null)
        {
            return new DrainResult(partition, DrainEnd.NotClaimed, 0, 0, 0, LogPosition.Start);
        }

        FencedCheckpoint fenced;
        try
        {
            fenced = await engine.Checkpoints.FenceAsync(logName, group, partition, owner, claim.Lease.Epoch, cancellationToken);
        }
        catch (LeaseLostException)
        {
            return new DrainResult(partition, DrainEnd.LeaseLost, 0, 0, 0, LogPosition.Start);
        }

        using var lost = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var session = new PartitionSession(engine, partition, keepAlive, stopAt, claim.Lease, fenced, lost);
        try
        {
            return await session.RunClaimedAsync(cancellationToken);
        }
        finally
        {
            session._buffering?.Dispose();
        }
    }

    private async Task<DrainResult> RunClaimedAsync(CancellationToken hostToken)
    {
        var renewal = RenewLoopAsync();
        _hooks.Deferral?.Reset(_partition, new DeferralLimits(_engine.Log.PartitionCount, _options.TailMaxBufferedSpans, _options.TailDecisionCacheSize));

        // Destination batching: items merged across events, sent before every checkpoint (and on its limits).
        _buffering = _hooks.Buffering?.BeginBuffering(_partition);
        DrainEnd end;
        Exception? failure = null;
        try
        {
            end = await HandOverDeferredAsync(await ReadUntilEndAsync());
        }
        catch (LeaseLostException)
        {
            end = DrainEnd.LeaseLost;
        }
        catch (OperationCanceledException) when (!hostToken.IsCancellationRequested)
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
            _memory.Release(_held);
            _held = 0;
            _hooks.Deferral?.Reset(_partition, null); // whatever is still deferred is re-read by the next owner
            await _lost.CancelAsync();
            await renewal;
            _engine.Count(_events, _items, _deadLettered);
        }

        await CompleteAsync(end);
        if (failure != null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        }

        return new DrainResult(_partition, end, _events, _items, _deadLettered, _checkpointed);
    }

    /// <summary>Restores the partition's state, then reads and settles batches until a reason to end.</summary>
    private async Task<DrainEnd> ReadUntilEndAsync()
    {
        if (_hooks.State is { } state)
        {
            await state.RestoreStateAsync(_fenced, Token);
        }

        while (true)
        {
            Token.ThrowIfCancellationRequested();
            if (_position >= _stopAt)
            {
                return DrainEnd.ReachedEnd;
            }

            ReadBatch batch;
            (batch, _held) = await _reader.ReadAsync(_position, Token);
            var end = batch.Events.Count == 0 ? await AtEndOfLogAsync(batch) : await SettleAsync(batch);
            if (end is { } stop)
            {
                return stop;
            }
        }
    }

    /// <summary>Nothing new: decide deferred items by the clock, checkpoint, and end when idle long enough.</summary>
    private async Task<DrainEnd?> AtEndOfLogAsync(ReadBatch empty)
    {
        _memory.Release(_held);
        _held = 0;

        // At the end of the log deferred items are decided by the clock.
        if (await FlushDeferredAsync(endOfLog: true))
        {
            return DrainEnd.RetryLater;
        }

        // Also records moving over an empty region (a sealed segment's end).
        _position = empty.Next;
        if (!await CheckpointAsync(Settled(_position)))
        {
            return DrainEnd.RetryLater;
        }

        if (_time.GetElapsedTime(_lastData) >= _options.IdleTimeout && _hooks.Deferral?.HasPending(_partition) != true)
        {
            return DrainEnd.Idle;
        }

        await Task.Delay(_options.PollInterval, _time, Token);
        return null;
    }

    /// <summary>Processes a batch, flushes what became due, checkpoints; says why to end, if it should.</summary>
    private async Task<DrainEnd?> SettleAsync(ReadBatch batch)
    {
        _lastData = _time.GetTimestamp();
        _engine.Metrics.Read(batch.Events, _time.GetUtcNow(), _engine.Performance?[PerformanceComponents.QueueWait]);
        var (processed, stopForRetry) = await ProcessBatchAsync(batch);
        var checkpointTo = Settled(processed);
        if (!stopForRetry)
        {
            stopForRetry = await FlushDeferredAsync(endOfLog: false);

            // A failed flush took its traces out of the buffer: keep the checkpoint below them.
            checkpointTo = stopForRetry ? checkpointTo : Settled(processed);
        }

        foreach (var e in batch.Events)
        {
            if (e.Position >= processed)
            {
                break;
            }

            _events++;
            _items += e.Properties?.ItemCount ?? 0;
            if (e.IsCorrupt)
            {
                _deadLettered++;
            }
        }

        bool sent = await CheckpointAsync(checkpointTo);
        _engine.Metrics.Settled(batch.Events, _checkpointed, _time.GetUtcNow(), _engine.Performance?[PerformanceComponents.EndToEnd]);
        _position = processed;
        _memory.Release(_held); // settled: checkpointed, or handed to the deferral buffer (capped on its own)
        _held = 0;

        if (stopForRetry || !sent)
        {
            return DrainEnd.RetryLater;
        }

        if (!_keepAlive && _time.GetElapsedTime(_started) >= _options.TimeBudget)
        {
            return DrainEnd.BudgetExhausted;
        }

        return _engine.StandingDown?.Invoke() == true ? DrainEnd.StoodDown : null;
    }

    /// <summary>
    /// A graceful end hands over no undecided items: stop reading, keep deciding until nothing is
    /// pending (at most one decision wait), then checkpoint, so the next owner repeats nothing.
    /// </summary>
    private async Task<DrainEnd> HandOverDeferredAsync(DrainEnd end)
    {
        var deferral = _hooks.Deferral;
        while (end is DrainEnd.BudgetExhausted or DrainEnd.ReachedEnd or DrainEnd.StoodDown && deferral?.HasPending(_partition) == true)
        {
            if (await FlushDeferredAsync(endOfLog: true) || !await CheckpointAsync(Settled(_position)))
            {
                return DrainEnd.RetryLater;
            }

            if (deferral.HasPending(_partition))
            {
                await Task.Delay(_options.PollInterval, _time, Token);
            }
        }

        return end;
    }

    /// <summary>Releases the lease unless it was lost (bounded: a lease that cannot be released expires by design).</summary>
    private async Task CompleteAsync(DrainEnd end)
    {
        var logger = _engine.Logger;
        if (end == DrainEnd.LeaseLost)
        {
            logger.LogWarning("Partition {Partition}: lease lost; stopped at {Position} without further writes", _partition, _position);
            return;
        }

        try
        {
            // A process told to stop must not spend the SDK's retries on storage that may be gone already.
            using var release = new CancellationTokenSource(end == DrainEnd.Cancelled ? ReleaseOnStopTimeout : ReleaseTimeout);
            await _engine.Leases.ReleaseAsync(_lease, release.Token);
        }
        catch (Exception ex)
        {
            logger.LogWarning("Partition {Partition}: releasing the lease failed ({Reason}); it will expire", _partition, ExceptionText.Summary(ex));
            logger.LogDebug(ex, "Partition {Partition}: releasing the lease failed", _partition);
        }
    }

    /// <summary>Deferred items (spans waiting for their trace's decision) hold the checkpoint back at their event.</summary>
    private LogPosition Settled(LogPosition processed) =>
        _hooks.Deferral?.PendingFloor(_partition) is { } floor && floor < processed ? floor : processed;

    /// <summary>
    /// Sends the buffered batches, saves the partition's state and moves the checkpoint. False when a
    /// buffered batch could be neither sent nor parked: the checkpoint stays below its first event,
    /// and the session must stop and read from there again later.
    /// </summary>
    private async Task<bool> CheckpointAsync(LogPosition to)
    {
        bool sent = true;
        if (_buffering != null)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Token);
            timeout.CancelAfter(_options.ExportTimeout); // a batch the cap cut off is read again
            var settled = await _buffering.FlushAsync(timeout.Token);
            _deadLettered += settled.DeadLettered;
            if (settled.RetryFrom is { } from)
            {
                sent = false;
                to = from < to ? from : to;
            }
        }

        if (to > _checkpointed)
        {
            // The processor's state is saved first: it may run ahead of the checkpoint, never behind.
            string? state = _hooks.State == null ? null : await _hooks.State.SaveStateAsync(_fenced, Token);
            await _engine.Checkpoints.UpdateAsync(_fenced, to.Value, state, Token);
            _checkpointed = to;
        }

        return sent;
    }

    /// <summary>
    /// Lets the deferral decide and deliver what is due, under the same export cap as an event;
    /// true when a destination failed so the session must retry later.
    /// </summary>
    private async Task<bool> FlushDeferredAsync(bool endOfLog)
    {
        if (_hooks.Deferral is not { } deferral || !deferral.HasPending(_partition))
        {
            return false;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Token);
        timeout.CancelAfter(_options.ExportTimeout);
        try
        {
            var flushed = await deferral.FlushDueAsync(_partition, _time.GetUtcNow(), endOfLog, timeout.Token);
            _deadLettered += flushed.DeadLettered;
            return flushed.RetryLater;
        }
        catch (OperationCanceledException) when (!Token.IsCancellationRequested)
        {
            return true; // the export cap, not the lease, ran out
        }
    }

    /// <summary>Processes events in order; returns the position up to which everything is settled.</summary>
    private async Task<(LogPosition Settled, bool StopForRetry)> ProcessBatchAsync(ReadBatch batch)
    {
        // A replay cursor re-reads what the live drain settled once: corrupt records there are not dead-lettered again.
        bool deadLetterCorrupt = _stopAt == null;
        foreach (var e in batch.Events)
        {
            if (e.IsCorrupt)
            {
                if (!deadLetterCorrupt)
                {
                    continue;
                }

                await _engine.DeadLetters.WriteAsync(null, null, null, _partition, e.Position.Value, e.CorruptReason!, e.Body, Token);
                _engine.Logger.LogWarning("Partition {Partition}: corrupt record at {Position} dead-lettered: {Reason}", _partition, e.Position, e.CorruptReason);
                continue;
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Token);
            timeout.CancelAfter(_options.ExportTimeout);
            EventFate fate;
            try
            {
                fate = await _engine.Processor.ProcessAsync(_partition, e, timeout.Token);
            }
            catch (OperationCanceledException) when (!Token.IsCancellationRequested)
            {
                fate = EventFate.RetryLater; // the export cap, not the lease, ran out
            }

            switch (fate)
            {
                case EventFate.DeadLettered:
                    _deadLettered++;
                    break;
                case EventFate.RetryLater:
                    return (e.Position, true);
            }
        }

        return (batch.Next, false);
    }

    private async Task RenewLoopAsync()
    {
        var period = _options.LeaseTtl / 3;
        try
        {
            while (!_lost.IsCancellationRequested)
            {
                await Task.Delay(period, _time, Token);
                bool renewed;
                try
                {
                    renewed = await _engine.Leases.RenewAsync(_lease, Token);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // A failed renewal is not yet a lost lease; the next try may succeed within the TTL.
                    _engine.Logger.LogWarning("Partition {Partition}: lease renewal failed ({Reason})", _lease.Partition, ExceptionText.Summary(ex));
                    _engine.Logger.LogDebug(ex, "Partition {Partition}: lease renewal failed", _lease.Partition);
                    continue;
                }

                if (!renewed)
                {
                    await _lost.CancelAsync();
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
