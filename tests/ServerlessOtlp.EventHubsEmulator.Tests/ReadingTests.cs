using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Consumer;
using Azure.Messaging.EventHubs.Primitives;
using Microsoft.Extensions.Time.Testing;

namespace ServerlessOtlp.EventHubsEmulator.Tests;

/// <summary>Every starting position the SDK's selector filters express, through both consumer APIs.</summary>
public sealed class ReadingTests
{
    [Fact]
    public async Task Earliest_ReadsFromTheFirstEvent_WithConsumerClientAndPartitionReceiver()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        await Emulators.SendAsync(emulator, "0", Emulators.Event("a", 0), Emulators.Event("b", 1), Emulators.Event("c", 2));

        List<PartitionEvent> viaConsumer = await Emulators.ReadAsync(emulator, "0", EventPosition.Earliest, 3);
        await using var receiver = new PartitionReceiver(EventHubConsumerClient.DefaultConsumerGroupName, "0", EventPosition.Earliest, emulator.ConnectionString);
        List<EventData> viaReceiver = await Emulators.ReceiveAsync(receiver, 3);

        Assert.Equal(["a", "b", "c"], viaConsumer.Select(e => e.Data.EventBody.ToString()));
        Assert.Equal(["a", "b", "c"], viaReceiver.Select(e => e.EventBody.ToString()));
    }

    [Fact]
    public async Task Latest_SeesOnlyEventsEnqueuedAfterTheReaderAttached()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        await Emulators.SendAsync(emulator, "0", Emulators.Event("before", 0), Emulators.Event("before", 1));
        await using var receiver = new PartitionReceiver(EventHubConsumerClient.DefaultConsumerGroupName, "0", EventPosition.Latest, emulator.ConnectionString);

        // The first receive attaches the link; "latest" is fixed at that moment.
        Assert.Empty(await receiver.ReceiveBatchAsync(10, TimeSpan.FromMilliseconds(100)));
        Assert.Equal(1, emulator.GetReaders("$Default", "0").Count);
        await Emulators.SendAsync(emulator, "0", Emulators.Event("after", 2));

        EventData received = Assert.Single(await Emulators.ReceiveAsync(receiver, 1));
        Assert.Equal("after", received.EventBody.ToString());
        Assert.Equal(2, received.SequenceNumber);
    }

    [Fact]
    public async Task Latest_WithConsumerClient_DeliversEventsAsTheyArrive()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        await Emulators.SendAsync(emulator, "1", Emulators.Event("old"));

        Task<List<PartitionEvent>> reading = Emulators.ReadAsync(emulator, "1", EventPosition.Latest, 2);
        await Emulators.WaitUntilAsync(() => emulator.GetReaders("$Default", "1").Count == 1, "the reader attached");
        await Emulators.SendAsync(emulator, "1", Emulators.Event("new", 1));
        await Emulators.SendAsync(emulator, "1", Emulators.Event("newer", 2));

        Assert.Equal(["new", "newer"], (await reading).Select(e => e.Data.EventBody.ToString()));
    }

    [Fact]
    public async Task FromSequenceNumber_InclusiveStartsAtIt_ExclusiveAfterIt()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        await Emulators.SendAsync(emulator, "0", [.. Enumerable.Range(0, 5).Select(i => Emulators.Event($"e{i}", i))]);

        await using var inclusive = new PartitionReceiver("$Default", "0", EventPosition.FromSequenceNumber(2, isInclusive: true), emulator.ConnectionString);
        await using var exclusive = new PartitionReceiver("$Default", "0", EventPosition.FromSequenceNumber(2, isInclusive: false), emulator.ConnectionString);

        Assert.Equal([2L, 3, 4], (await Emulators.ReceiveAsync(inclusive, 3)).Select(e => e.SequenceNumber));
        Assert.Equal([3L, 4], (await Emulators.ReceiveAsync(exclusive, 2)).Select(e => e.SequenceNumber));
    }

    [Fact]
    public async Task FromOffset_InclusiveStartsAtIt_ExclusiveAfterIt()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        await Emulators.SendAsync(emulator, "0", Emulators.Event("a", 0), Emulators.Event("b", 1), Emulators.Event("c", 2));
        string secondOffset = (await Emulators.ReadAsync(emulator, "0", EventPosition.Earliest, 3))[1].Data.OffsetString;

        List<PartitionEvent> inclusive = await Emulators.ReadAsync(emulator, "0", EventPosition.FromOffset(secondOffset, isInclusive: true), 2);
        List<PartitionEvent> exclusive = await Emulators.ReadAsync(emulator, "0", EventPosition.FromOffset(secondOffset, isInclusive: false), 1);

        Assert.Equal(["b", "c"], inclusive.Select(e => e.Data.EventBody.ToString()));
        Assert.Equal(["c"], exclusive.Select(e => e.Data.EventBody.ToString()));
    }

    [Fact]
    public async Task FromEnqueuedTime_StartsAfterThatTime()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
        await using EventHubsEmulator emulator = await Emulators.StartAsync(configure: o => o.TimeProvider = clock);
        await Emulators.SendAsync(emulator, "0", Emulators.Event("noon"));
        clock.Advance(TimeSpan.FromMinutes(1));
        DateTimeOffset minutePast = clock.GetUtcNow();
        await Emulators.SendAsync(emulator, "0", Emulators.Event("minute past"));
        clock.Advance(TimeSpan.FromMinutes(1));
        await Emulators.SendAsync(emulator, "0", Emulators.Event("two past"));

        List<PartitionEvent> between = await Emulators.ReadAsync(emulator, "0", EventPosition.FromEnqueuedTime(minutePast.AddSeconds(-30)), 2);
        List<PartitionEvent> at = await Emulators.ReadAsync(emulator, "0", EventPosition.FromEnqueuedTime(minutePast), 1);

        Assert.Equal(["minute past", "two past"], between.Select(e => e.Data.EventBody.ToString()));
        Assert.Equal(minutePast, between[0].Data.EnqueuedTime);
        Assert.Equal(["two past"], at.Select(e => e.Data.EventBody.ToString()));
    }

    [Fact]
    public async Task FromEnqueuedTimeInTheFuture_WaitsForEventsEnqueuedAfterIt()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
        await using EventHubsEmulator emulator = await Emulators.StartAsync(configure: o => o.TimeProvider = clock);
        await using var receiver = new PartitionReceiver("$Default", "0", EventPosition.FromEnqueuedTime(clock.GetUtcNow().AddMinutes(5)), emulator.ConnectionString);
        Assert.Empty(await receiver.ReceiveBatchAsync(10, TimeSpan.FromMilliseconds(100)));

        await Emulators.SendAsync(emulator, "0", Emulators.Event("too early"));
        clock.Advance(TimeSpan.FromMinutes(10));
        await Emulators.SendAsync(emulator, "0", Emulators.Event("late enough"));

        EventData received = Assert.Single(await Emulators.ReceiveAsync(receiver, 1));
        Assert.Equal("late enough", received.EventBody.ToString());
    }

    [Fact]
    public async Task ReadingAcrossManyReceives_ResumesWhereItLeftOff()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        await Emulators.SendAsync(emulator, "0", [.. Enumerable.Range(0, 30).Select(i => Emulators.Event("n", i))]);
        await using var receiver = new PartitionReceiver("$Default", "0", EventPosition.Earliest, emulator.ConnectionString,
            new PartitionReceiverOptions { PrefetchCount = 5 });

        var seen = new List<long>();
        while (seen.Count < 30)
        {
            seen.AddRange((await Emulators.ReceiveAsync(receiver, Math.Min(7, 30 - seen.Count))).Select(e => e.SequenceNumber));
        }

        Assert.Equal(Enumerable.Range(0, 30).Select(i => (long)i), seen);
    }

    [Fact]
    public async Task TrackLastEnqueuedEventProperties_ReportsThePartitionsNewestEvent()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        await Emulators.SendAsync(emulator, "0", Emulators.Event("a"), Emulators.Event("b"), Emulators.Event("c"));

        List<PartitionEvent> read = await Emulators.ReadAsync(emulator, "0", EventPosition.Earliest, 1,
            options: new ReadEventOptions { TrackLastEnqueuedEventProperties = true });

        LastEnqueuedEventProperties last = read[0].Partition.ReadLastEnqueuedEventProperties();
        Assert.Equal(2, last.SequenceNumber);
        Assert.False(string.IsNullOrEmpty(last.OffsetString));
        Assert.NotNull(last.EnqueuedTime);
        Assert.NotNull(last.LastReceivedTime);
    }

    [Fact]
    public async Task NamedConsumerGroup_IsReadable()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync(configure: o => o.ConsumerGroups = ["functions"]);
        await Emulators.SendAsync(emulator, "0", Emulators.Event("for functions"));

        List<PartitionEvent> read = await Emulators.ReadAsync(emulator, "0", EventPosition.Earliest, 1, consumerGroup: "functions");

        Assert.Equal("for functions", read.Single().Data.EventBody.ToString());
    }

    [Fact]
    public async Task UnknownConsumerGroup_IsResourceNotFound()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();

        var exception = await Assert.ThrowsAsync<EventHubsException>(
            () => Emulators.ReadAsync(emulator, "0", EventPosition.Earliest, 1, consumerGroup: "nobody"));

        Assert.Equal(EventHubsException.FailureReason.ResourceNotFound, exception.Reason);
    }

    [Fact]
    public async Task UnknownPartition_IsArgumentOutOfRange_ForReadersAndPublishers()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        await using var receiver = new PartitionReceiver("$Default", "7", EventPosition.Earliest, emulator.ConnectionString);

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => receiver.ReceiveBatchAsync(1, TimeSpan.FromMilliseconds(50)));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Emulators.SendAsync(emulator, "7", Emulators.Event("nowhere")));
    }

    [Fact]
    public async Task ReadEventsAsync_ReadsEveryPartition()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync(partitions: 3);
        await Emulators.SendAsync(emulator, "0", Emulators.Event("zero"));
        await Emulators.SendAsync(emulator, "1", Emulators.Event("one"));
        await Emulators.SendAsync(emulator, "2", Emulators.Event("two"));
        await using var consumer = new EventHubConsumerClient(EventHubConsumerClient.DefaultConsumerGroupName, emulator.ConnectionString);
        using var deadline = new CancellationTokenSource(Emulators.Patience);

        var bodies = new Dictionary<string, string>();
        await foreach (PartitionEvent partitionEvent in consumer.ReadEventsAsync(startReadingAtEarliestEvent: true, cancellationToken: deadline.Token))
        {
            bodies[partitionEvent.Partition.PartitionId] = partitionEvent.Data.EventBody.ToString();
            if (bodies.Count == 3)
            {
                break;
            }
        }

        Assert.Equal(new Dictionary<string, string> { ["0"] = "zero", ["1"] = "one", ["2"] = "two" }, bodies);
    }
}
