using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Consumer;
using Azure.Messaging.EventHubs.Primitives;
using Azure.Messaging.EventHubs.Producer;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;

namespace ServerlessOtlp.Tests.Log;

/// <summary>The Event Hubs log through the SDK's mocking support (virtual members, <see cref="EventHubsModelFactory"/>).</summary>
public sealed class EventHubsLogTests
{
    // Out of numeric order on purpose: the log orders them so that index i is partition "i".
    private static readonly string[] PartitionIds = ["10", "2", "0", "11", "1", "3", "4", "5", "6", "7", "8", "9"];

    private static readonly DateTimeOffset ReceivedAt = DateTimeOffset.FromUnixTimeMilliseconds(1_735_689_600_123);

    private static LogEvent Event(string tenant, int bytes, Signal signal = Signal.Traces, int items = 3) =>
        new(new EventProperties(tenant, signal, BodyCodec.Protobuf, items, ReceivedAt, "gw-1"), Enumerable.Range(0, bytes).Select(i => (byte)i).ToArray());

    private static async Task<(EventHubsLog Log, MockProducer Producer, ReceiverFactory Receivers)> OpenAsync(long batchBytes = 1_000_000)
    {
        var producer = new MockProducer(PartitionIds, batchBytes);
        var receivers = new ReceiverFactory();
        var log = new EventHubsLog(producer, "functions", "replay", receivers.Create);
        await log.OpenAsync();
        return (log, producer, receivers);
    }

    [Fact]
    public async Task OpenAsync_takes_the_partition_count_from_the_hub_in_numeric_order()
    {
        var (log, _, _) = await OpenAsync();
        Assert.Equal(12, log.PartitionCount);
        Assert.Throws<InvalidOperationException>(() => new EventHubsLog(new MockProducer(PartitionIds, 1000), "functions", "replay", new ReceiverFactory().Create).PartitionCount);
    }

    [Fact]
    public async Task AppendAsync_sends_to_the_explicit_partition_with_every_property()
    {
        var (log, producer, _) = await OpenAsync();
        var events = new[] { Event("acme", 100), Event("globex", 50, Signal.Logs, 7) };
        await log.AppendAsync(10, events);
        await log.AppendAsync(2, [Event("acme", 10, Signal.Metrics)]);

        Assert.Equal(new[] { "10", "2" }, producer.Sent.Select(s => s.PartitionId));
        var (partitionId, sent) = producer.Sent[0];
        Assert.Equal(2, sent.Count);
        for (int i = 0; i < events.Length; i++)
        {
            var p = events[i].Properties;
            var data = sent[i];
            Assert.Equal(events[i].Body.ToArray(), data.EventBody.ToArray());
            Assert.Equal(p.Tenant, data.Properties[EventProperties.TenantKey]);
            Assert.Equal((int)p.Signal, data.Properties[EventProperties.SignalKey]);
            Assert.Equal((int)p.Codec, data.Properties[EventProperties.CodecKey]);
            Assert.Equal(p.ItemCount, data.Properties[EventProperties.ItemCountKey]);
            Assert.Equal(p.ReceivedAt.ToUnixTimeMilliseconds(), data.Properties[EventProperties.ReceivedAtKey]);
            Assert.Equal(p.GatewayId, data.Properties[EventProperties.GatewayKey]);
            Assert.Equal(EventProperties.CurrentFormatVersion, data.Properties[EventProperties.FormatVersionKey]);
            Assert.Null(data.PartitionKey);
        }

        Assert.Equal((int)Signal.Metrics, producer.Sent[1].Events[0].Properties[EventProperties.SignalKey]);
    }

    [Fact]
    public async Task AppendAsync_fills_several_batches_and_completes_after_every_send()
    {
        var (log, producer, _) = await OpenAsync(batchBytes: 1000);
        var events = Enumerable.Range(0, 7).Select(i => Event("t" + i, 300)).ToList();
        await log.AppendAsync(0, events);
        Assert.True(producer.Sent.Count >= 3);
        Assert.All(producer.Sent, s => Assert.Equal("0", s.PartitionId));
        Assert.Equal(events.Select(e => e.Properties.Tenant), producer.Sent.SelectMany(s => s.Events).Select(d => (string)d.Properties[EventProperties.TenantKey]));
    }

    [Fact]
    public async Task An_event_that_does_not_fit_a_batch_is_refused_alone_after_the_ones_before_it_are_sent()
    {
        var (log, producer, _) = await OpenAsync(batchBytes: 1000);
        var ex = await Assert.ThrowsAsync<LogAppendException>(() => log.AppendAsync(1, [Event("acme", 10), Event("acme", 5000), Event("acme", 10)]));
        Assert.Contains("does not fit", ex.Message, StringComparison.Ordinal);
        Assert.True(ex.Refused);
        Assert.Equal(1, ex.DurableCount);
        Assert.Single(producer.Sent); // the first event's batch; the third was not tried
    }

    [Fact]
    public async Task A_failed_send_fails_the_append()
    {
        var (log, producer, _) = await OpenAsync();
        producer.Failure = new EventHubsException(true, "hub", EventHubsException.FailureReason.ServiceBusy);
        var ex = await Assert.ThrowsAsync<LogAppendException>(() => log.AppendAsync(1, [Event("acme", 10)]));
        Assert.IsType<EventHubsException>(ex.InnerException);
        Assert.False(ex.Refused);
        Assert.Equal(0, ex.DurableCount);
    }

    private static EventData Received(long sequence, IDictionary<string, object>? properties, string tenant = "acme") =>
        EventHubsModelFactory.EventData(
            new BinaryData(new byte[] { 1, 2, (byte)sequence }),
            properties ?? EventHubsLog.ToEventData(Event(tenant, 1)).Properties,
            sequenceNumber: sequence,
            offsetString: "offset-" + sequence,
            enqueuedTime: ReceivedAt);

    [Fact]
    public async Task ReadAsync_maps_sequence_numbers_to_positions_and_properties_back()
    {
        var (log, _, receivers) = await OpenAsync();
        receivers.Next.Enqueue([Received(42, null, "acme"), Received(43, null, "globex")]);
        var batch = await log.ReadAsync(3, new LogPosition(42), 10, 64 * 1024 * 1024, new FencingToken(7));

        var call = Assert.Single(receivers.Calls);
        Assert.Equal("3", call.PartitionId);
        Assert.Equal(EventPosition.FromSequenceNumber(42, isInclusive: true), call.Position);
        Assert.Equal((long?)7, call.OwnerLevel);
        Assert.Equal("functions", call.ConsumerGroup);

        Assert.Equal(2, batch.Events.Count);
        Assert.Equal(new LogPosition(42), batch.Events[0].Position);
        Assert.Equal(new LogPosition(43), batch.Events[0].Next);
        Assert.Equal(new LogPosition(43), batch.Events[1].Position);
        Assert.Equal(new LogPosition(44), batch.Next);
        Assert.Equal("offset-42", batch.Events[0].OffsetString);
        Assert.Equal(new byte[] { 1, 2, 42 }, batch.Events[0].Body.ToArray());
        Assert.Equal(new EventProperties("acme", Signal.Traces, BodyCodec.Protobuf, 3, ReceivedAt, "gw-1"), batch.Events[0].Properties);
        Assert.Equal("globex", batch.Events[1].Properties!.Tenant);
        Assert.All(batch.Events, e => Assert.False(e.IsCorrupt));

        // Continuing where the batch ended reuses the receiver; a seek or a new epoch opens a new one.
        receivers.Next.Enqueue([]);
        var empty = await log.ReadAsync(3, batch.Next, 10, 64 * 1024 * 1024, new FencingToken(7));
        Assert.Empty(empty.Events);
        Assert.Equal(batch.Next, empty.Next);
        Assert.Single(receivers.Calls);

        await log.ReadAsync(3, batch.Next, 10, 64 * 1024 * 1024, new FencingToken(8));
        Assert.Equal(2, receivers.Calls.Count);
        Assert.Equal((long?)8, receivers.Calls[1].OwnerLevel);
        Assert.Equal(EventPosition.FromSequenceNumber(44, isInclusive: true), receivers.Calls[1].Position);
        Assert.True(receivers.Calls[0].Receiver.Closed, "the superseded receiver is closed");

        await log.ReadAsync(3, LogPosition.Start, 10, 64 * 1024 * 1024, new FencingToken(8));
        Assert.Equal(EventPosition.Earliest, receivers.Calls[2].Position);
    }

    [Fact]
    public async Task ReadAsync_returns_no_more_than_maxBytes_and_serves_the_surplus_before_receiving_again()
    {
        var receivers = new ReceiverFactory();
        var log = new EventHubsLog(new MockProducer(PartitionIds, 1000), "functions", "replay", receivers.Create, prefetchCount: 300);
        await log.OpenAsync();
        receivers.Next.Enqueue([Received(1, null), Received(2, null), Received(3, null)]); // 3-byte bodies
        receivers.Next.Enqueue([Received(4, null)]);

        var first = await log.ReadAsync(0, new LogPosition(1), 10, maxBytes: 7, new FencingToken(2));
        Assert.Equal([1L, 2L], first.Events.Select(e => e.Position.Value));
        Assert.Equal(new LogPosition(3), first.Next);

        var second = await log.ReadAsync(0, first.Next, 10, maxBytes: 7, new FencingToken(2));
        Assert.Equal([3L], second.Events.Select(e => e.Position.Value));
        Assert.Single(receivers.Next); // served from what was in hand, without receiving

        var third = await log.ReadAsync(0, second.Next, 10, maxBytes: 2, new FencingToken(2));
        Assert.Equal([4L], third.Events.Select(e => e.Position.Value)); // one event over maxBytes still comes alone
        Assert.Single(receivers.Calls);
    }

    [Fact]
    public void Receivers_request_events_per_read_unless_a_prefetch_is_configured()
    {
        var defaults = EventHubsLog.ReceiverOptions(new EventHubsLogOptions(), 5);
        Assert.Equal(0, defaults.PrefetchCount);
        Assert.Null(defaults.PrefetchSizeInBytes);
        Assert.Equal(5, defaults.OwnerLevel);
        var configured = EventHubsLog.ReceiverOptions(new EventHubsLogOptions { PrefetchCount = 20, PrefetchSizeInBytes = 4_000_000 }, null);
        Assert.Equal((20, 4_000_000L), (configured.PrefetchCount, configured.PrefetchSizeInBytes!.Value));
        Assert.Null(configured.OwnerLevel);
    }

    [Theory]
    [InlineData("tenant")]
    [InlineData("signal")]
    [InlineData("receivedAt")]
    [InlineData("format")]
    [InlineData("bad signal")]
    [InlineData("bad codec")]
    [InlineData("tenant not a string")]
    [InlineData("tenant null")]
    [InlineData("gateway null")]
    [InlineData("items not a number")]
    [InlineData("no properties")]
    public async Task Missing_or_malformed_properties_are_corrupt(string damage)
    {
        var (log, _, receivers) = await OpenAsync();
        var props = new Dictionary<string, object>(EventHubsLog.ToEventData(Event("acme", 1)).Properties);
        switch (damage)
        {
            case "bad signal": props[EventProperties.SignalKey] = 9; break;
            case "bad codec": props[EventProperties.CodecKey] = 2; break;
            case "tenant not a string": props[EventProperties.TenantKey] = 5; break;
            case "tenant null": props[EventProperties.TenantKey] = null!; break;
            case "gateway null": props[EventProperties.GatewayKey] = null!; break;
            case "items not a number": props[EventProperties.ItemCountKey] = "many"; break;
            case "no properties": props.Clear(); break;
            default: props.Remove(damage); break;
        }

        receivers.Next.Enqueue([Received(5, props), Received(6, null)]);
        var batch = await log.ReadAsync(0, new LogPosition(5), 10, 64 * 1024 * 1024, new FencingToken(1));
        Assert.Equal(2, batch.Events.Count);
        var corrupt = batch.Events[0];
        Assert.True(corrupt.IsCorrupt);
        Assert.False(string.IsNullOrEmpty(corrupt.CorruptReason));
        Assert.Null(corrupt.Properties);
        Assert.Equal(new LogPosition(6), corrupt.Next);
        Assert.Equal(new byte[] { 1, 2, 5 }, corrupt.Body.ToArray());
        Assert.False(batch.Events[1].IsCorrupt);
    }

    [Fact]
    public async Task GetEndAsync_and_Lag_count_events()
    {
        var (log, producer, _) = await OpenAsync();
        producer.Properties["4"] = EventHubsModelFactory.PartitionProperties("hub", "4", false, 100, 149, "7000", ReceivedAt);
        producer.Properties["5"] = EventHubsModelFactory.PartitionProperties("hub", "5", true, 30, 29, "0", ReceivedAt);
        var end = await log.GetEndAsync(4);
        Assert.Equal(new LogPosition(150), end);
        Assert.Equal(new LogPosition(30), await log.GetEndAsync(5));
        Assert.Equal(0, log.Lag(end, end));
        Assert.Equal(10, log.Lag(new LogPosition(140), end));
        Assert.Equal(150, log.Lag(LogPosition.Start, end));
        Assert.Equal(0, log.Lag(new LogPosition(200), end));
    }

    [Fact]
    public async Task FindPositionAsync_reads_from_the_enqueued_time()
    {
        var (log, producer, receivers) = await OpenAsync();
        var time = ReceivedAt.AddMinutes(-5);
        receivers.Next.Enqueue([Received(77, null)]);
        Assert.Equal(new LogPosition(77), await log.FindPositionAsync(6, time));
        var call = Assert.Single(receivers.Calls);
        Assert.Equal("6", call.PartitionId);
        Assert.Equal("replay", call.ConsumerGroup); // in the live group the drain's epoch receiver would refuse it
        Assert.Equal(EventPosition.FromEnqueuedTime(time), call.Position);
        Assert.Null(call.OwnerLevel);
        Assert.True(call.Receiver.Closed);

        producer.Properties["6"] = EventHubsModelFactory.PartitionProperties("hub", "6", false, 0, 90, "1", ReceivedAt);
        receivers.Next.Enqueue([]);
        Assert.Equal(new LogPosition(91), await log.FindPositionAsync(6, time.AddDays(1)));
    }

    [Fact]
    public async Task A_side_reader_reads_in_the_replay_group_without_an_owner_level_beside_the_live_epoch_receiver()
    {
        var (log, producer, receivers) = await OpenAsync();
        receivers.Next.Enqueue([Received(10, null)]);
        await log.ReadAsync(3, new LogPosition(10), 10, 64 * 1024 * 1024, new FencingToken(7));

        await using (var cursor = log.OpenSideReader())
        {
            Assert.Equal("replay", cursor.ConsumerGroup);
            Assert.Equal(12, cursor.PartitionCount);
            receivers.Next.Enqueue([Received(4, null, "globex")]);
            var batch = await cursor.ReadAsync(3, new LogPosition(4), 10, 64 * 1024 * 1024, new FencingToken(5));
            Assert.Equal("globex", Assert.Single(batch.Events).Properties!.Tenant);

            Assert.Equal(2, receivers.Calls.Count);
            var live = receivers.Calls[0];
            Assert.Equal(("functions", "3", 7L), (live.ConsumerGroup, live.PartitionId, live.OwnerLevel!.Value));
            var replay = receivers.Calls[1];
            Assert.Equal("replay", replay.ConsumerGroup);
            Assert.Equal("3", replay.PartitionId);
            Assert.Null(replay.OwnerLevel);
            Assert.Equal(EventPosition.FromSequenceNumber(4, isInclusive: true), replay.Position);
            Assert.False(live.Receiver.Closed, "the cursor does not touch the live drain's receiver");
        }

        // Disposing the cursor's reader closes its receiver only; the shared producer and the live receiver stay open.
        Assert.True(receivers.Calls[1].Receiver.Closed);
        Assert.False(receivers.Calls[0].Receiver.Closed);
        Assert.False(producer.Disposed);
        await log.AppendAsync(0, [Event("acme", 10)]);
        Assert.Single(producer.Sent);
    }

    /// <summary>Against a real Event Hub (Azure or the official emulator): opt-in, and reported as skipped when not configured.</summary>
    [SkippableFact]
    public async Task Live_EventHubs_round_trip_when_EVENTHUBS_CONNECTION_STRING_is_set()
    {
        string? connection = Environment.GetEnvironmentVariable("EVENTHUBS_CONNECTION_STRING");
        string? hub = Environment.GetEnvironmentVariable("EVENTHUBS_NAME");
        Skip.If(string.IsNullOrWhiteSpace(connection) || string.IsNullOrWhiteSpace(hub),
            "set EVENTHUBS_CONNECTION_STRING and EVENTHUBS_NAME (and optionally EVENTHUBS_CONSUMER_GROUP) to run this test against a real Event Hub");

        await using var log = EventHubsLog.Create(new EventHubsLogOptions
        {
            ConnectionString = connection,
            EventHubName = hub,
            ConsumerGroup = Environment.GetEnvironmentVariable("EVENTHUBS_CONSUMER_GROUP") ?? "$Default",
        });
        await log.OpenAsync();
        Assert.True(log.PartitionCount > 0);
        int partition = log.PartitionCount - 1;
        var before = await log.GetEndAsync(partition);
        string tenant = "live-" + Guid.NewGuid().ToString("N");
        var sent = new LogEvent(new EventProperties(tenant, Signal.Logs, BodyCodec.Protobuf, 1, DateTimeOffset.UtcNow, "gw-live"), new byte[] { 1, 2, 3 });
        await log.AppendAsync(partition, [sent]);

        var pos = before;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            var batch = await log.ReadAsync(partition, pos, 100, 64 * 1024 * 1024, FencingToken.None);
            var found = batch.Events.FirstOrDefault(e => e.Properties?.Tenant == tenant);
            if (found != null)
            {
                Assert.Equal(Signal.Logs, found.Properties!.Signal);
                Assert.Equal(new byte[] { 1, 2, 3 }, found.Body.ToArray());
                Assert.False(string.IsNullOrEmpty(found.OffsetString));
                Assert.True(log.Lag(found.Next, await log.GetEndAsync(partition)) >= 0);
                return;
            }

            pos = batch.Next;
        }

        Assert.Fail("the event did not come back within 60 s");
    }

    /// <summary>A producer that records what it sends; batches accept events up to a byte budget.</summary>
    private sealed class MockProducer(string[] partitionIds, long batchBytes) : EventHubProducerClient
    {
        public List<(string? PartitionId, List<EventData> Events)> Sent { get; } = [];

        public Dictionary<string, PartitionProperties> Properties { get; } = [];

        public Exception? Failure { get; set; }

        private readonly ConditionalWeakTable<EventDataBatch, Tuple<CreateBatchOptions, List<EventData>>> _batches = new();

        public override Task<string[]> GetPartitionIdsAsync(CancellationToken cancellationToken = default) => Task.FromResult(partitionIds);

        public override ValueTask<EventDataBatch> CreateBatchAsync(CreateBatchOptions options, CancellationToken cancellationToken = default)
        {
            var store = new List<EventData>();
            long used = 0;
            var batch = EventHubsModelFactory.EventDataBatch(batchBytes, store, options, e =>
            {
                long size = e.EventBody.ToMemory().Length + 100;
                if (used + size > batchBytes)
                {
                    return false;
                }

                used += size;
                return true;
            });
            _batches.Add(batch, Tuple.Create(options, store));
            return ValueTask.FromResult(batch);
        }

        public override Task SendAsync(EventDataBatch eventBatch, CancellationToken cancellationToken = default)
        {
            if (Failure != null)
            {
                return Task.FromException(Failure);
            }

            Assert.True(_batches.TryGetValue(eventBatch, out var entry));
            lock (Sent)
            {
                Sent.Add((entry.Item1.PartitionId, entry.Item2.ToList()));
            }

            return Task.CompletedTask;
        }

        public override Task<PartitionProperties> GetPartitionPropertiesAsync(string partitionId, CancellationToken cancellationToken = default) =>
            Task.FromResult(Properties[partitionId]);

        public override Task CloseAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

        public bool Disposed { get; private set; }

        public override ValueTask DisposeAsync()
        {
            Disposed = true;
            return ValueTask.CompletedTask;
        }
    }

    private sealed class ReceiverFactory
    {
        public List<(string ConsumerGroup, string PartitionId, EventPosition Position, long? OwnerLevel, MockReceiver Receiver)> Calls { get; } = [];

        /// <summary>What the next receive calls return, in order.</summary>
        public ConcurrentQueue<List<EventData>> Next { get; } = new();

        public PartitionReceiver Create(string consumerGroup, string partitionId, EventPosition position, long? ownerLevel)
        {
            var receiver = new MockReceiver(this);
            Calls.Add((consumerGroup, partitionId, position, ownerLevel, receiver));
            return receiver;
        }
    }

    private sealed class MockReceiver(ReceiverFactory factory) : PartitionReceiver
    {
        public bool Closed { get; private set; }

        public override Task<IEnumerable<EventData>> ReceiveBatchAsync(int maximumEventCount, TimeSpan maximumWaitTime, CancellationToken cancellationToken = default) =>
            Task.FromResult<IEnumerable<EventData>>(factory.Next.TryDequeue(out var events) ? events.Take(maximumEventCount).ToList() : []);

        public override Task CloseAsync(CancellationToken cancellationToken = default)
        {
            Closed = true;
            return Task.CompletedTask;
        }

        public override ValueTask DisposeAsync()
        {
            Closed = true;
            return ValueTask.CompletedTask;
        }
    }
}
