using System.Buffers;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Gateway.Telemetry;

namespace ServerlessOtlp.Gateway.Ingest;

/// <summary>
/// Group commit for one partition: parts from concurrent requests wait while an append is in
/// flight and then go together in the next one. Parts of the same tenant and signal are merged
/// into one event (concatenated export requests are a valid export request) up to the event size
/// limit. A lone request is appended at once on its own thread; only when other requests are in
/// flight does the first part of a batch linger (<see cref="GatewayOptions.FlushDelay"/>), on the
/// gateway's one shared <see cref="LingerTimer"/>, so that an idle-ish gateway spends no timers
/// or thread-pool hops per request.
/// </summary>
internal sealed class PartitionAppender
{
    private static readonly TimeSpan AppendTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Event Hubs bills ingress per event in units of this size.</summary>
    private const int IngressUnitBytes = 64 * 1024;

    private readonly int _partition;
    private readonly IPartitionedLog _log;
    private readonly GatewayOptions _options;
    private readonly GatewayMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly LingerTimer _linger;
    private readonly DrainWakeup? _wakeup;
    private readonly object _lock = new();
    private List<Part> _pending = [];
    private List<Part> _spare = [];
    private long _pendingBytes;
    private bool _running;

    // Reused by the single pump of this partition (one append in flight at a time).
    private List<LogEvent> _events = new(4);
    private int[] _partEvent = new int[16];
    private AppendOutcome[] _outcomes = new AppendOutcome[4];
    private List<byte[]> _rented = [];
    private CancellationTokenSource? _timeout;

    public PartitionAppender(int partition, IPartitionedLog log, GatewayOptions options, GatewayMetrics metrics, TimeProvider time, LingerTimer linger, DrainWakeup? wakeup = null)
    {
        _wakeup = wakeup;
        _partition = partition;
        _log = log;
        _options = options;
        _metrics = metrics;
        _time = time;
        _linger = linger;
    }

    /// <summary>Parts waiting for the next append (for tests and diagnostics).</summary>
    internal int PendingCount
    {
        get
        {
            lock (_lock)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>
    /// Adds a part. Returns true when the caller must start the pump (<see cref="Flush"/>) after
    /// enqueuing its other parts; false when a running or lingering pump will take it.
    /// </summary>
    public bool Enqueue(in Part part)
    {
        lock (_lock)
        {
            _pending.Add(part);
            _pendingBytes += part.Bytes.Length;
            if (_running)
            {
                return false;
            }

            _running = true;
            return true;
        }
    }

    /// <summary>
    /// Starts the pump that <see cref="Enqueue"/> asked for: at once on the calling thread, or after
    /// the shared linger when <paramref name="linger"/> (other requests are in flight) and the
    /// batch is still below <see cref="GatewayOptions.FlushBytes"/>.
    /// </summary>
    public void Flush(bool linger)
    {
        if (linger && _options.FlushDelay > TimeSpan.Zero && Interlocked.Read(ref _pendingBytes) < _options.FlushBytes)
        {
            _linger.Schedule(this);
            return;
        }

        _ = PumpAsync();
    }

    /// <summary>Called by the linger timer.</summary>
    internal void LingerElapsed() => _ = PumpAsync();

    private async Task PumpAsync()
    {
        while (true)
        {
            List<Part> batch;
            lock (_lock)
            {
                if (_pending.Count == 0)
                {
                    _running = false;
                    return;
                }

                batch = _pending;
                _pending = _spare;
                _pendingBytes = 0;
            }

            await AppendBatchAsync(batch);
            batch.Clear();
            lock (_lock)
            {
                _spare = batch;
            }
        }
    }

    private async Task AppendBatchAsync(List<Part> batch)
    {
        var events = _events;
        var rented = _rented;
        var partEvent = batch.Count <= _partEvent.Length ? _partEvent : (_partEvent = new int[Math.Max(batch.Count, _partEvent.Length * 2)]);
        long start = _time.GetTimestamp();
        // Per event: durable, refused for good (too large for the log), or failed. One part's failure
        // never fails another tenant's parts in the same group commit.
        var outcome = _outcomes;
        bool reusable = true;
        try
        {
            BuildEvents(batch, events, rented, partEvent);
            if (outcome.Length < events.Count)
            {
                outcome = _outcomes = new AppendOutcome[Math.Max(events.Count, outcome.Length * 2)];
            }

            outcome.AsSpan(0, events.Count).Clear(); // AppendOutcome.Failed
            int next = 0;
            while (next < events.Count)
            {
                var pending = next == 0 ? events : events.GetRange(next, events.Count - next);
                try
                {
                    await _log.AppendAsync(_partition, pending, ArmTimeout());
                    outcome.AsSpan(next, pending.Count).Fill(AppendOutcome.Durable);
                    break;
                }
                catch (LogAppendException ex)
                {
                    outcome.AsSpan(next, ex.DurableCount).Fill(AppendOutcome.Durable);
                    if (!ex.Refused)
                    {
                        reusable = false;
                        break;
                    }

                    outcome[next + ex.DurableCount] = AppendOutcome.Refused;
                    next += ex.DurableCount + 1;
                }
            }
        }
        catch (Exception)
        {
            reusable = false; // every event not marked durable has failed
        }
        finally
        {
            foreach (var buffer in rented)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        long items = 0, ingressUnits = 0;
        bool allDurable = true, anyDurable = false;
        for (int e = 0; e < events.Count; e++)
        {
            bool durable = outcome[e] == AppendOutcome.Durable;
            allDurable &= durable;
            anyDurable |= durable;
            ingressUnits += durable ? Math.Max(1, (events[e].Body.Length + IngressUnitBytes - 1) / IngressUnitBytes) : 0;
        }

        foreach (var part in batch)
        {
            items += part.Items;
        }

        _metrics.RecordAppend(_time.GetElapsedTime(start), events.Count, items, allDurable, ingressUnits);
        if (_wakeup != null && anyDurable)
        {
            _wakeup.Appended(_partition); // returns at once; a check, if one is due, runs in the background
        }

        int eventCount = events.Count;
        if (reusable)
        {
            events.Clear();
            rented.Clear();
        }
        else
        {
            // A failed or timed-out append may still hold the lists: never reuse them.
            _events = new List<LogEvent>(4);
            _rented = [];
        }

        for (int i = 0; i < batch.Count; i++)
        {
            int e = partEvent[i];
            batch[i].Owner.PartDone(e < eventCount ? outcome[e] : AppendOutcome.Failed, batch[i].Items);
        }
    }

    private CancellationToken ArmTimeout()
    {
        // One timeout source per partition, re-armed per append (no allocation while appends succeed).
        if (_timeout != null && _timeout.TryReset())
        {
            _timeout.CancelAfter(AppendTimeout);
        }
        else
        {
            _timeout?.Dispose();
            _timeout = new CancellationTokenSource(AppendTimeout, _time);
        }

        return _timeout.Token;
    }

    /// <summary>Groups parts by (tenant, signal) and packs each group into events no larger than the limit.</summary>
    private void BuildEvents(List<Part> batch, List<LogEvent> events, List<byte[]> rented, int[] partEvent)
    {
        var now = _time.GetUtcNow();
        Span<bool> taken = batch.Count <= 1024 ? stackalloc bool[batch.Count] : new bool[batch.Count];
        for (int i = 0; i < batch.Count; i++)
        {
            if (taken[i])
            {
                continue;
            }

            var head = batch[i];
            // Collect this group's parts (same tenant and signal) in arrival order.
            int groupBytes = 0, groupItems = 0, groupCount = 0;
            int last = i;
            for (int j = i; j < batch.Count; j++)
            {
                if (!taken[j] && batch[j].Signal == head.Signal && string.Equals(batch[j].Tenant, head.Tenant, StringComparison.Ordinal))
                {
                    groupBytes += batch[j].Bytes.Length;
                    groupItems += batch[j].Items;
                    groupCount++;
                    last = j;
                }
            }

            if (groupCount == 1)
            {
                taken[i] = true;
                partEvent[i] = events.Count;
                events.Add(new LogEvent(Props(head, head.Items, now), head.Bytes));
                continue;
            }

            byte[]? buffer = null;
            int used = 0, items = 0;
            for (int j = i; j <= last; j++)
            {
                var part = batch[j];
                if (taken[j] || part.Signal != head.Signal || !string.Equals(part.Tenant, head.Tenant, StringComparison.Ordinal))
                {
                    continue;
                }

                taken[j] = true;
                if (buffer != null && used + part.Bytes.Length > _options.MaxEventBytes)
                {
                    events.Add(new LogEvent(Props(head, items, now), buffer.AsMemory(0, used)));
                    buffer = null;
                }

                if (buffer == null)
                {
                    buffer = ArrayPool<byte>.Shared.Rent(Math.Min(_options.MaxEventBytes, groupBytes) + part.Bytes.Length);
                    rented.Add(buffer);
                    used = 0;
                    items = 0;
                }

                partEvent[j] = events.Count; // the event being filled is added next
                part.Bytes.Span.CopyTo(buffer.AsSpan(used));
                used += part.Bytes.Length;
                items += part.Items;
                groupBytes -= part.Bytes.Length;
            }

            if (buffer != null && used > 0)
            {
                events.Add(new LogEvent(Props(head, items, now), buffer.AsMemory(0, used)));
            }
        }
    }

    private EventProperties Props(in Part part, int items, DateTimeOffset now) =>
        new(part.Tenant, part.Signal, BodyCodec.Protobuf, items, now, _options.NodeId);

    /// <summary>One split record of one request, waiting to be appended.</summary>
    internal readonly record struct Part(PendingRequest Owner, string Tenant, Signal Signal, ReadOnlyMemory<byte> Bytes, int Items);
}

/// <summary>What an append did with one event.</summary>
internal enum AppendOutcome : byte
{
    Failed,
    Durable,

    /// <summary>Refused for good by the log (too large): its items are rejected, not retried.</summary>
    Refused,
}

/// <summary>Counts a request's outstanding parts; completes when each is durable, refused or failed.</summary>
internal sealed class PendingRequest
{
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _remaining;
    private int _failedItems;
    private int _refusedItems;

    public PendingRequest(int parts) => _remaining = parts;

    public Task Completion => _done.Task;

    /// <summary>Items in parts that failed (transiently): the request is answered retryable.</summary>
    public int FailedItems => Volatile.Read(ref _failedItems);

    /// <summary>Items in parts the log refused for good: rejected in the partial success.</summary>
    public int RefusedItems => Volatile.Read(ref _refusedItems);

    public void PartDone(AppendOutcome outcome, int items)
    {
        if (outcome == AppendOutcome.Failed)
        {
            Interlocked.Add(ref _failedItems, items);
        }
        else if (outcome == AppendOutcome.Refused)
        {
            Interlocked.Add(ref _refusedItems, items);
        }

        if (Interlocked.Decrement(ref _remaining) == 0)
        {
            _done.TrySetResult();
        }
    }
}
