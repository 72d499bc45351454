using System.Collections.Concurrent;
using Azure.Identity;
using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Consumer;
using Azure.Messaging.EventHubs.Primitives;
using Azure.Messaging.EventHubs.Producer;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Otlp;

namespace ServerlessOtlp.Log;

/// <summary>
/// The partitioned log on Azure Event Hubs. Appends go to an explicit partition in one
/// <see cref="EventDataBatch"/> per call (the buffered producer acknowledges before data is
/// durable, so it does not fit); a call completes only when every batch was sent. Reads use a
/// <see cref="PartitionReceiver"/> from a sequence number, opened in the live consumer group with
/// the reader's <see cref="FencingToken"/> as its owner level so that a stale reader is disconnected by the service.
/// <see cref="WithConsumerGroup"/> gives a reader in another consumer group (replay cursors):
/// it opens non-exclusive receivers, since an owner level in the live group would cut off the live drain.
/// </summary>
internal sealed class EventHubsLog : IPartitionedLog
{
    /// <summary>Opens a receiver: consumer group, partition id, start, owner level (null = non-exclusive).</summary>
    public delegate PartitionReceiver ReceiverFactory(string consumerGroup, string partitionId, EventPosition position, long? ownerLevel);

    private readonly EventHubProducerClient _producer;
    private readonly ReceiverFactory _receiverFactory;
    private readonly bool _exclusive;
    private readonly bool _ownsProducer;
    private readonly ConcurrentDictionary<int, ReceiverState> _receivers = new();
    private string[] _partitionIds = [];
    private readonly bool _onDemand;

    /// <summary>The service's largest event (Standard tier): 1 MiB.</summary>
    private const int MaxEventBytes = 1024 * 1024;

    /// <param name="prefetchCount">The receivers' prefetch (<see cref="EventHubsLogOptions.PrefetchCount"/>); 0 requests events per read.</param>
    public EventHubsLog(EventHubProducerClient producer, string consumerGroup, string replayConsumerGroup, ReceiverFactory receiverFactory, int prefetchCount = 0)
        : this(producer, consumerGroup, replayConsumerGroup, receiverFactory, exclusive: true, ownsProducer: true, onDemand: prefetchCount == 0)
    {
    }

    private EventHubsLog(EventHubProducerClient producer, string consumerGroup, string replayConsumerGroup, ReceiverFactory receiverFactory, bool exclusive, bool ownsProducer, bool onDemand)
    {
        _onDemand = onDemand;
        _producer = producer;
        ConsumerGroup = consumerGroup;
        ReplayConsumerGroup = replayConsumerGroup;
        _receiverFactory = receiverFactory;
        _exclusive = exclusive;
        _ownsProducer = ownsProducer;
    }

    /// <summary>The consumer group this instance reads in.</summary>
    public string ConsumerGroup { get; }

    /// <summary>The consumer group replay cursors read in, beside the live drain's.</summary>
    public string ReplayConsumerGroup { get; }

    /// <summary>None: the service expires events after the hub's retention.</summary>
    public ILogRetention? Retention => null;

    /// <summary>A reader in <see cref="ReplayConsumerGroup"/> (<see cref="WithConsumerGroup"/>): an owner level in the live group would cut off the live drain.</summary>
    public IPartitionedLog OpenSideReader() => WithConsumerGroup(ReplayConsumerGroup);

    public static EventHubsLog Create(EventHubsLogOptions options)
    {
        var clientOptions = new EventHubProducerClientOptions();
        if (!string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            var producer = new EventHubProducerClient(options.ConnectionString, options.EventHubName, clientOptions);
            return new EventHubsLog(producer, options.ConsumerGroup, options.ReplayConsumerGroup, (group, id, position, ownerLevel) => new PartitionReceiver(
                group, id, position, options.ConnectionString, options.EventHubName, ReceiverOptions(options, ownerLevel)), options.PrefetchCount);
        }

        if (string.IsNullOrWhiteSpace(options.FullyQualifiedNamespace))
        {
            throw new InvalidOperationException("Event Hubs log: set ServerlessOtlp:Log:EventHubs:FullyQualifiedNamespace (or ConnectionString)");
        }

        var credential = new DefaultAzureCredential();
        var p = new EventHubProducerClient(options.FullyQualifiedNamespace, options.EventHubName, credential, clientOptions);
        return new EventHubsLog(p, options.ConsumerGroup, options.ReplayConsumerGroup, (group, id, position, ownerLevel) => new PartitionReceiver(
            group, id, position, options.FullyQualifiedNamespace, options.EventHubName, credential, ReceiverOptions(options, ownerLevel)), options.PrefetchCount);
    }

    /// <summary>
    /// A receiver's options: the owner level, and the prefetch (none by default: the SDK's 300 events can hold
    /// ~285 MB per receiver of 950 KB events outside the drains' memory budget; see <see cref="EventHubsLogOptions.PrefetchCount"/>).
    /// </summary>
    internal static PartitionReceiverOptions ReceiverOptions(EventHubsLogOptions options, long? ownerLevel) => new()
    {
        OwnerLevel = ownerLevel,
        PrefetchCount = options.PrefetchCount,
        PrefetchSizeInBytes = options.PrefetchSizeInBytes,
    };

    /// <summary>
    /// A reader of the same hub in <paramref name="consumerGroup"/>, sharing the producer and the
    /// partition ids, with its own receivers. They are non-exclusive (no owner level): several
    /// cursors may read one partition at once, and a cursor is fenced by its lease and checkpoint
    /// ETag, not by the service. Disposing it closes its receivers only.
    /// </summary>
    public EventHubsLog WithConsumerGroup(string consumerGroup)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(consumerGroup);
        return new EventHubsLog(_producer, consumerGroup, ReplayConsumerGroup, _receiverFactory, exclusive: false, ownsProducer: false, _onDemand) { _partitionIds = _partitionIds };
    }

    // Table keys cannot hold "/", so the name joins namespace and hub with ":".
    public string Name => $"eventhubs:{_producer.FullyQualifiedNamespace}:{_producer.EventHubName}";

    public int PartitionCount => _partitionIds.Length > 0 ? _partitionIds.Length : throw new InvalidOperationException("call OpenAsync first");

    public async Task OpenAsync(CancellationToken cancellationToken = default)
    {
        var ids = await _producer.GetPartitionIdsAsync(cancellationToken);
        // Partition ids are "0".."n-1"; order them numerically so index i is partition "i".
        _partitionIds = ids.OrderBy(id => int.TryParse(id, out int n) ? n : int.MaxValue).ThenBy(id => id, StringComparer.Ordinal).ToArray();
    }

    public async Task AppendAsync(int partition, IReadOnlyList<LogEvent> events, CancellationToken cancellationToken = default)
    {
        string id = _partitionIds[partition];
        int i = 0;
        while (i < events.Count)
        {
            int first = i;
            try
            {
                using var batch = await _producer.CreateBatchAsync(new CreateBatchOptions { PartitionId = id }, cancellationToken);
                while (i < events.Count && batch.TryAdd(ToEventData(events[i])))
                {
                    i++;
                }

                if (batch.Count == 0)
                {
                    // This event alone is over the service's limit: refused for good, the ones before it are sent.
                    throw new LogAppendException(first, refused: true, $"event of {events[i].Body.Length} bytes does not fit an Event Hubs batch ({batch.MaximumSizeInBytes} bytes)");
                }

                await _producer.SendAsync(batch, cancellationToken);
            }
            catch (Exception ex) when (ex is not LogAppendException)
            {
                // Batches are sent in order: everything before this one is durable.
                throw new LogAppendException(first, refused: false, "Event Hubs append failed: " + ex.Message, ex);
            }
        }
    }

    internal static EventData ToEventData(in LogEvent e)
    {
        var p = e.Properties;
        var data = new EventData(e.Body);
        data.Properties[EventProperties.TenantKey] = p.Tenant;
        data.Properties[EventProperties.SignalKey] = (int)p.Signal;
        data.Properties[EventProperties.CodecKey] = (int)p.Codec;
        data.Properties[EventProperties.ItemCountKey] = p.ItemCount;
        data.Properties[EventProperties.ReceivedAtKey] = p.ReceivedAt.ToUnixTimeMilliseconds();
        data.Properties[EventProperties.GatewayKey] = p.GatewayId;
        data.Properties[EventProperties.FormatVersionKey] = p.FormatVersion;
        return data;
    }

    /// <summary>Reads the properties back; null when they are missing or malformed (the event is then dead-lettered).</summary>
    internal static EventProperties? FromEventData(EventData data, out string? reason)
    {
        reason = null;
        try
        {
            var props = data.Properties;
            var p = new EventProperties(
                Text(props, EventProperties.TenantKey),
                (Signal)Convert.ToInt32(props[EventProperties.SignalKey], System.Globalization.CultureInfo.InvariantCulture),
                (BodyCodec)Convert.ToInt32(props[EventProperties.CodecKey], System.Globalization.CultureInfo.InvariantCulture),
                Convert.ToInt32(props[EventProperties.ItemCountKey], System.Globalization.CultureInfo.InvariantCulture),
                DateTimeOffset.FromUnixTimeMilliseconds(Convert.ToInt64(props[EventProperties.ReceivedAtKey], System.Globalization.CultureInfo.InvariantCulture)),
                Text(props, EventProperties.GatewayKey),
                Convert.ToInt32(props[EventProperties.FormatVersionKey], System.Globalization.CultureInfo.InvariantCulture));
            if (p.Signal is < Signal.Traces or > Signal.Logs || p.Codec != BodyCodec.Protobuf)
            {
                reason = "unknown signal or codec";
                return null;
            }

            return p;
        }
        catch (Exception ex) when (ex is KeyNotFoundException or InvalidCastException or FormatException or OverflowException)
        {
            reason = "missing or malformed event properties: " + ex.Message;
            return null;
        }
    }

    // A cast lets a null property through as a null string, which would fail far from here; refuse it as malformed.
    private static string Text(IDictionary<string, object> props, string key) =>
        props[key] as string ?? throw new InvalidCastException($"property {key} is not a string");

    /// <summary>
    /// Reads at most <paramref name="maxEvents"/> events whose bodies add up to at most <paramref name="maxBytes"/>
    /// (always at least one). What the receiver delivered beyond that stays in hand for the next read from
    /// where this one ended, so a batch over the budget never costs a receiver reopen (a new link and CBS token).
    /// </summary>
    public async Task<ReadBatch> ReadAsync(int partition, LogPosition from, int maxEvents, int maxBytes, FencingToken fence, CancellationToken cancellationToken = default)
    {
        var state = _receivers.GetOrAdd(partition, _ => new ReceiverState());
        if (state.Receiver == null || state.Expected != from || state.Fence != fence)
        {
            await state.ResetAsync();
            var position = from.IsStart ? EventPosition.Earliest : EventPosition.FromSequenceNumber(from.Value, isInclusive: true);
            state.Receiver = _receiverFactory(ConsumerGroup, _partitionIds[partition], position, OwnerLevel(fence));
            state.Fence = fence;
        }

        // Only an empty hand waits on the service: a surplus is returned at once, even if short.
        if (state.Surplus.Count == 0)
        {
            IEnumerable<EventData> received;
            try
            {
                received = await state.Receiver.ReceiveBatchAsync(state.CountToRequest(maxEvents, maxBytes, _onDemand), TimeSpan.FromSeconds(1), cancellationToken);
            }
            catch (EventHubsException ex) when (ex.Reason == EventHubsException.FailureReason.QuotaExceeded)
            {
                await state.ResetAsync();
                throw new ReaderLimitException(_partitionIds[partition], ConsumerGroup, ex);
            }
            catch
            {
                // Stolen, closed or failed: the next read opens a fresh receiver at its position.
                await state.ResetAsync();
                throw;
            }

            long receivedBytes = 0;
            foreach (var data in received)
            {
                state.Surplus.Enqueue(data);
                receivedBytes += data.EventBody.ToMemory().Length;
            }

            state.Learn(state.Surplus.Count, receivedBytes);
        }

        var events = new List<ReadEvent>(Math.Min(maxEvents, state.Surplus.Count));
        var next = from;
        long bytes = 0;
        while (events.Count < maxEvents && state.Surplus.TryPeek(out var data))
        {
            var body = data.EventBody.ToMemory();
            if (events.Count > 0 && bytes + body.Length > maxBytes)
            {
                break;
            }

            state.Surplus.Dequeue();
            var props = FromEventData(data, out string? reason);
            var pos = new LogPosition(data.SequenceNumber);
            next = new LogPosition(data.SequenceNumber + 1);
            events.Add(new ReadEvent(pos, next, props, body, props == null ? reason : null, data.OffsetString));
            bytes += body.Length;
        }

        state.Expected = next;
        return new ReadBatch(events, next);
    }

    public async Task<LogPosition> GetEndAsync(int partition, CancellationToken cancellationToken = default)
    {
        var props = await _producer.GetPartitionPropertiesAsync(_partitionIds[partition], cancellationToken);
        return props.IsEmpty ? new LogPosition(props.BeginningSequenceNumber) : new LogPosition(props.LastEnqueuedSequenceNumber + 1);
    }

    public long Lag(LogPosition checkpoint, LogPosition end) => Math.Max(0, end.Value - Math.Max(0, checkpoint.Value));

    /// <summary>
    /// Looks the time up with a non-exclusive receiver in the replay consumer group: in the live group the
    /// service refuses it while a drain holds its epoch receiver, so replay by time would fail in normal operation.
    /// </summary>
    /// <exception cref="ReaderLimitException">Five readers already read the partition in the replay group.</exception>
    public async Task<LogPosition> FindPositionAsync(int partition, DateTimeOffset time, CancellationToken cancellationToken = default)
    {
        await using var receiver = _receiverFactory(ReplayConsumerGroup, _partitionIds[partition], EventPosition.FromEnqueuedTime(time), null);
        IEnumerable<EventData> batch;
        try
        {
            batch = await receiver.ReceiveBatchAsync(1, TimeSpan.FromSeconds(5), cancellationToken);
        }
        catch (EventHubsException ex) when (ex.Reason == EventHubsException.FailureReason.QuotaExceeded)
        {
            throw new ReaderLimitException(_partitionIds[partition], ReplayConsumerGroup, ex);
        }

        foreach (var data in batch)
        {
            return new LogPosition(data.SequenceNumber);
        }

        return await GetEndAsync(partition, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var state in _receivers.Values)
        {
            await state.ResetAsync();
        }

        if (_ownsProducer)
        {
            await _producer.DisposeAsync();
        }
    }

    // The token is the owner level as it is: the service lets an equal or higher level take the partition.
    private long? OwnerLevel(FencingToken fence) => _exclusive && fence.IsSet ? fence.Value : null;

    private sealed class ReceiverState
    {
        public PartitionReceiver? Receiver;

        /// <summary>Where the next read continues without a seek: after the last event returned.</summary>
        public LogPosition Expected = new(long.MinValue);
        public FencingToken Fence;

        /// <summary>Delivered by the receiver, not yet returned; starts at <see cref="Expected"/>.</summary>
        public readonly Queue<EventData> Surplus = new();

        /// <summary>Average body size of the last receive, starting from the service's largest event so that a first read never asks for too many.</summary>
        private double _averageBytes = MaxEventBytes;
        private int _lastCount;
        private bool _lastWasEmpty;

        /// <summary>
        /// Without prefetch every receive issues its count as AMQP credit, and credit a receive did not use stays
        /// with the service: ask for what fits the byte limit at the sizes last seen, growing at most twofold per
        /// receive (events may grow again), and for one event while the partition is idle, so that polls of an
        /// idle partition do not pile up credit for a burst later.
        /// </summary>
        public int CountToRequest(int maxEvents, int maxBytes, bool onDemand)
        {
            if (!onDemand)
            {
                return maxEvents;
            }

            double fits = maxBytes / _averageBytes;
            int count = _lastWasEmpty ? 1 : (int)Math.Clamp(Math.Min(fits, _lastCount == 0 ? fits : 2.0 * _lastCount), 1, maxEvents);
            _lastCount = count;
            return count;
        }

        public void Learn(int events, long bytes)
        {
            _lastWasEmpty = events == 0;
            if (events > 0)
            {
                _averageBytes = Math.Max(1.0, (double)bytes / events);
            }
        }

        public async ValueTask ResetAsync()
        {
            Surplus.Clear();
            _lastWasEmpty = false;
            Expected = new(long.MinValue);
            if (Receiver is { } receiver)
            {
                Receiver = null;
                try
                {
                    await receiver.DisposeAsync();
                }
                catch (EventHubsException)
                {
                    // A stolen or failed link: closing it has nothing left to release.
                }
            }
        }
    }
}

/// <summary>
/// The service's limit of five readers without an owner level per partition and consumer group was reached
/// (<c>amqp:resource-limit-exceeded</c>). Replay cursors wait for a free place instead of failing.
/// </summary>
public sealed class ReaderLimitException(string partitionId, string consumerGroup, Exception inner)
    : InvalidOperationException(
        $"Event Hubs partition {partitionId} already has {MaxReadersWithoutOwnerLevel} readers in consumer group \"{consumerGroup}\" " +
        "(the service's limit per partition and group): a tenant replay waits until one of them finishes",
        inner)
{
    /// <summary>Event Hubs' quota of non-exclusive readers per partition and consumer group.</summary>
    public const int MaxReadersWithoutOwnerLevel = 5;

    public string PartitionId => partitionId;

    public string ConsumerGroup => consumerGroup;
}
