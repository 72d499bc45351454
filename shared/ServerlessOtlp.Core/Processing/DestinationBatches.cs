using System.Buffers;
using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using OpenTelemetry.Proto.Collector.Trace.V1;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Pipeline.Ottl;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Processing;

/// <summary>
/// The hook of an <see cref="IEventProcessor"/> that can merge consecutive events' items per
/// destination (a destination's <c>batch</c>). The drain opens buffering for the partition it
/// claimed, flushes before every checkpoint, and disposes it when the claim ends (what is still
/// buffered then was never acknowledged: the next owner reads it again from the checkpoint).
/// </summary>
public interface IDestinationBuffering
{
    /// <summary>Buffers, for the calling drain's flow only, the items of <paramref name="partition"/> for destinations with a <c>batch</c>.</summary>
    DestinationBatches BeginBuffering(int partition);
}

/// <summary>What a flush of buffered batches did: events whose part was dead-lettered, and the lowest position the drain must read again.</summary>
public readonly record struct BatchSettlement(int DeadLettered, LogPosition? RetryFrom)
{
    public BatchSettlement Add(BatchSettlement other) => new(
        DeadLettered + other.DeadLettered,
        RetryFrom is { } a && other.RetryFrom is { } b ? (a < b ? a : b) : RetryFrom ?? other.RetryFrom);
}

/// <summary>
/// One event's part of a batch: where it came from (for a dead letter of exactly that event and
/// destination) and where its bytes are in the merged request.
/// </summary>
internal sealed record BatchPart(ReadEvent Event, int Offset, int Length);

/// <summary>
/// The items waiting for one (tenant, destination) of a claimed partition: the merged request (a
/// concatenation of export requests is their merge in protobuf), and each event's part of it.
/// </summary>
internal sealed class PendingBatch(int partition, TenantConfig tenant, DestinationConfig destination, Signal signal, DateTimeOffset startedAt)
{
    private readonly ArrayBufferWriter<byte> _bytes = new();
    private readonly List<IMessage> _messages = [];
    private readonly List<BatchPart> _parts = [];

    public int Partition { get; } = partition;

    public TenantConfig Tenant { get; } = tenant;

    public DestinationConfig Destination { get; } = destination;

    public Signal Signal { get; } = signal;

    public DateTimeOffset StartedAt { get; } = startedAt;

    public IReadOnlyList<BatchPart> Parts => _parts;

    public int Items { get; private set; }

    public int Bytes => _bytes.WrittenCount;

    public ReadOnlyMemory<byte> Protobuf => _bytes.WrittenMemory;

    /// <summary>The lowest position of an event in the batch.</summary>
    public LogPosition Floor => _parts.Min(p => p.Event.Position);

    public void Add(ReadEvent logEvent, IMessage message, ReadOnlySpan<byte> bytes, int items)
    {
        // The event's body may be a pooled buffer returned when its processing ends: keep a copy.
        _parts.Add(new BatchPart(logEvent with { Body = ReadOnlyMemory<byte>.Empty }, _bytes.WrittenCount, bytes.Length));
        _bytes.Write(bytes);
        _messages.Add(message);
        Items += items;
    }

    /// <summary>The decoded merged request (repeated fields appended: no deep copy).</summary>
    public IMessage Message() => Signal switch
    {
        Signal.Traces => Merge(new ExportTraceServiceRequest()),
        Signal.Metrics => Merge(new ExportMetricsServiceRequest()),
        Signal.Logs => Merge(new ExportLogsServiceRequest()),
        _ => throw new ArgumentOutOfRangeException(nameof(Signal)),
    };

    private T Merge<T>(T merged)
        where T : IMessage<T>
    {
        foreach (var message in _messages)
        {
            merged.MergeFrom((T)message);
        }

        return merged;
    }
}

/// <summary>
/// The batching sender of destinations with <c>batch</c> (<c>maxItems</c>, <c>maxBytes</c>,
/// <c>flushInterval</c>), for one claimed partition: consecutive events' items for a destination are
/// merged up to the limits and sent when a limit is reached, when the oldest item has waited
/// <c>flushInterval</c>, and before every checkpoint — so a checkpoint never passes an item that is
/// neither exported nor parked, and a batch holds at most the events of one read. Each item keeps
/// its provenance: a batch refused for good dead-letters each of its events' parts for that
/// destination alone; a batch that cannot be sent nor parked makes the drain read again from its
/// lowest event.
/// Reached only from the drain's own flow (an <see cref="AsyncLocal{T}"/>): a redrive sharing the
/// processor exports at once.
/// </summary>
public sealed class DestinationBatches : IDisposable
{
    /// <summary>The Collector's <c>send_batch_size</c> default.</summary>
    public const int DefaultMaxItems = 8192;

    /// <summary>A gRPC server's default message limit.</summary>
    public const long DefaultMaxBytes = 4 * 1024 * 1024;

    /// <summary>Most a tenant may ask for (a batch lives in the drain's memory until it is sent).</summary>
    public const long MaxBytesLimit = 16 * 1024 * 1024;

    public const int MaxItemsLimit = 1_000_000;

    /// <summary>The Collector's batch <c>timeout</c> default.</summary>
    public static readonly TimeSpan DefaultFlushInterval = TimeSpan.FromMilliseconds(200);

    private static readonly AsyncLocal<DestinationBatches?> Ambient = new();

    private readonly Dictionary<(string Tenant, string Destination), PendingBatch> _pending = [];
    private readonly Lock _lock = new();
    private readonly Func<PendingBatch, CancellationToken, Task<BatchSettlement>> _send;
    private readonly TimeProvider _time;
    private BatchSettlement _sentSinceFlush;
    private bool _closed;

    internal DestinationBatches(int partition, Func<PendingBatch, CancellationToken, Task<BatchSettlement>> send, TimeProvider time)
    {
        Partition = partition;
        _send = send;
        _time = time;
        Ambient.Value = this;
    }

    public int Partition { get; }

    /// <summary>The buffering of <paramref name="partition"/> in the calling drain's flow; null outside a drain.</summary>
    internal static DestinationBatches? Current(int partition) =>
        Ambient.Value is { _closed: false } batches && batches.Partition == partition ? batches : null;

    internal static (int MaxItems, long MaxBytes, TimeSpan FlushInterval) Limits(BatchConfig batch) =>
        (batch.MaxItems ?? DefaultMaxItems, Math.Min(batch.MaxBytes ?? DefaultMaxBytes, MaxBytesLimit), batch.FlushInterval ?? DefaultFlushInterval);

    /// <summary>
    /// Adds one event's part for a destination with <c>batch</c>. Sends what a limit (or the interval)
    /// closes first; returns <see cref="EventFate.RetryLater"/> when such a send could be neither
    /// delivered nor parked, so the drain stops at this event.
    /// </summary>
    internal async Task<EventFate> AddAsync(TenantConfig tenant, DestinationConfig destination, Signal signal, ReadEvent logEvent, IMessage message, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        var (maxItems, maxBytes, interval) = Limits(destination.Batch!);
        int items = OttlTraversal.CountItems(message);
        var key = (tenant.Id, destination.Name);
        var now = _time.GetUtcNow();
        PendingBatch? closed = null, full = null;
        lock (_lock)
        {
            if (_pending.TryGetValue(key, out var open)
                && (open.Bytes + bytes.Length > maxBytes || now - open.StartedAt >= interval || open.Destination != destination))
            {
                // Sent before this part joins: it would pass maxBytes, the oldest item waited long enough,
                // or the tenant's config changed under the batch.
                closed = open;
                _pending.Remove(key);
            }

            if (!_pending.TryGetValue(key, out var batch))
            {
                batch = new PendingBatch(Partition, tenant, destination, signal, now);
                _pending[key] = batch;
            }

            batch.Add(logEvent, message, bytes.Span, items);
            if (batch.Items >= maxItems || batch.Bytes >= maxBytes)
            {
                full = batch;
                _pending.Remove(key);
            }
        }

        var settled = default(BatchSettlement);
        foreach (var batch in new[] { closed, full })
        {
            if (batch is not null)
            {
                settled = settled.Add(await SendOrRetryAsync(batch, cancellationToken));
            }
        }

        lock (_lock)
        {
            _sentSinceFlush = _sentSinceFlush.Add(settled);
        }

        return settled.RetryFrom is null ? EventFate.Delivered : EventFate.RetryLater;
    }

    /// <summary>Sends every buffered batch, and reports what every send since the last flush came to.</summary>
    public async Task<BatchSettlement> FlushAsync(CancellationToken cancellationToken)
    {
        List<PendingBatch> batches;
        BatchSettlement settled;
        lock (_lock)
        {
            batches = [.. _pending.Values];
            _pending.Clear();
            settled = _sentSinceFlush;
            _sentSinceFlush = default;
        }

        foreach (var outcome in await Task.WhenAll(batches.Select(b => SendOrRetryAsync(b, cancellationToken))))
        {
            settled = settled.Add(outcome);
        }

        return settled;
    }

    /// <summary>Forgets what is buffered (never acknowledged: read again by the next owner) and leaves the drain's flow.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _closed = true;
            _pending.Clear();
        }

        if (ReferenceEquals(Ambient.Value, this))
        {
            Ambient.Value = null;
        }
    }

    private async Task<BatchSettlement> SendOrRetryAsync(PendingBatch batch, CancellationToken cancellationToken)
    {
        try
        {
            return await _send(batch, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // The export cap or the claim ran out with the batch unsettled: its events are read again.
            return new BatchSettlement(0, batch.Floor);
        }
    }
}
