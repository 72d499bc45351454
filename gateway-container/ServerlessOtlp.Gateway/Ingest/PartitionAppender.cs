using System.Buffers;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
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

    private readonly int _partition;
    private readonly IPartitionedLog _log;
    private readonly GatewayOptions _options;
    private readonly GatewayMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly LingerTimer _linger;
    private readonly object _lock = new();
    private List<Part> _pending = [];
    private List<Part> _spare = [];
    private long _pendingBytes;
    private bool _running;

    // Reused by the single pump of this partition (one append in flight at a time).
    private List<LogEvent> _events = new(4);
    private List<byte[]> _rented = [];
    private CancellationTokenSource? _timeout;

    public PartitionAppender(int partition, IPartitionedLog log, GatewayOptions options, GatewayMetrics metrics, TimeProvider time, LingerTimer linger)
    {
        _partition = partition;
        _log = log;
        _options = options;
        _metrics = metrics;
        _time = time;
        _linger = linger;
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
        Exception? error = null;
        long start = _time.GetTimestamp();
        try
        {
            BuildEvents(batch, events, rented);
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

            await _log.AppendAsync(_partition, events, _timeout.Token);
        }
        catch (Exception ex)
        {
            error = ex;
        }
        finally
        {
            foreach (var buffer in rented)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        long items = 0;
        foreach (var part in batch)
        {
            items += part.Items;
        }

        _metrics.RecordAppend(_time.GetElapsedTime(start), events.Count, items, error == null);
        if (error == null)
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

        foreach (var part in batch)
        {
            part.Owner.PartDone(error);
        }
    }

    /// <summary>Groups parts by (tenant, signal) and packs each group into events no larger than the limit.</summary>
    private void BuildEvents(List<Part> batch, List<LogEvent> events, List<byte[]> rented)
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

/// <summary>Counts a request's outstanding parts; completes when all are durable (or one failed).</summary>
internal sealed class PendingRequest
{
    private readonly TaskCompletionSource<Exception?> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _remaining;
    private Exception? _error;

    public PendingRequest(int parts) => _remaining = parts;

    public Task<Exception?> Completion => _done.Task;

    public void PartDone(Exception? error)
    {
        if (error != null)
        {
            Interlocked.CompareExchange(ref _error, error, null);
        }

        if (Interlocked.Decrement(ref _remaining) == 0)
        {
            _done.TrySetResult(Volatile.Read(ref _error));
        }
    }
}
