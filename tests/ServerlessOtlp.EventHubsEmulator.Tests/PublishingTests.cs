using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Consumer;
using Azure.Messaging.EventHubs.Producer;
using Microsoft.Extensions.Time.Testing;
using ServerlessOtlp.EventHubsEmulator.Implementation;

namespace ServerlessOtlp.EventHubsEmulator.Tests;

/// <summary>Publishing with the real EventHubProducerClient, read back with the real consumer.</summary>
public sealed class PublishingTests
{
    [Fact]
    public async Task SingleEvent_RoundTripsBodyPropertiesAndServiceAnnotations()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
        await using EventHubsEmulator emulator = await Emulators.StartAsync(configure: o => o.TimeProvider = clock);
        byte[] body = [0, 1, 2, 250, 251, 252, 255];
        var sent = new EventData(body)
        {
            ContentType = "application/x-protobuf",
            CorrelationId = "correlation-7",
            MessageId = "message-7",
        };
        sent.Properties["tenant"] = "acme";
        sent.Properties["count"] = 42;
        sent.Properties["big"] = long.MaxValue;
        sent.Properties["ratio"] = 0.25;
        sent.Properties["flag"] = true;
        sent.Properties["when"] = new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero);
        sent.Properties["id"] = Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e");
        sent.Properties["bytes"] = new byte[] { 9, 8, 7 };

        await Emulators.SendAsync(emulator, "1", sent);
        List<PartitionEvent> read = await Emulators.ReadAsync(emulator, "1", EventPosition.Earliest, 1);

        EventData received = read.Single().Data;
        Assert.Equal(body, received.EventBody.ToArray());
        Assert.Equal("application/x-protobuf", received.ContentType);
        Assert.Equal("correlation-7", received.CorrelationId);
        Assert.Equal("message-7", received.MessageId);
        Assert.Equal("acme", received.Properties["tenant"]);
        Assert.Equal(42, received.Properties["count"]);
        Assert.Equal(long.MaxValue, received.Properties["big"]);
        Assert.Equal(0.25, received.Properties["ratio"]);
        Assert.Equal(true, received.Properties["flag"]);
        Assert.Equal(new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero), received.Properties["when"]);
        Assert.Equal(Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e"), received.Properties["id"]);
        Assert.Equal(new byte[] { 9, 8, 7 }, received.Properties["bytes"]);
        Assert.Equal(0, received.SequenceNumber);
        Assert.Equal("0", received.OffsetString);
        Assert.Equal(clock.GetUtcNow(), received.EnqueuedTime);
        Assert.Null(received.PartitionKey);
        Assert.Equal("1", read.Single().Partition.PartitionId);
        Assert.Equal(0, emulator.GetPartition("0").RetainedEvents);
    }

    [Fact]
    public async Task LargeEvent_SpanningManyFrames_RoundTripsExactly()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        byte[] body = new byte[700_000];
        new Random(7).NextBytes(body);

        await Emulators.SendAsync(emulator, "0", new EventData(body));
        List<PartitionEvent> read = await Emulators.ReadAsync(emulator, "0", EventPosition.Earliest, 1);

        Assert.Equal(body, read.Single().Data.EventBody.ToArray());
    }

    [Fact]
    public async Task EventDataBatch_FillsToTheAdvertisedOneMebibyte_AndArrivesInOrder()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        await using var producer = new EventHubProducerClient(emulator.ConnectionString);

        using EventDataBatch batch = await producer.CreateBatchAsync(new CreateBatchOptions { PartitionId = "0" });
        Assert.Equal(EmulatorOptions.DefaultMaxMessageSize, batch.MaximumSizeInBytes);
        int added = 0;
        while (batch.TryAdd(Emulators.Event(new string('x', 100_000), added)))
        {
            added++;
        }

        // Ten 100 kB events fit in 1 MiB with their framing; the eleventh does not.
        Assert.Equal(10, added);
        await producer.SendAsync(batch);

        List<PartitionEvent> read = await Emulators.ReadAsync(emulator, "0", EventPosition.Earliest, added);
        Assert.Equal(Enumerable.Range(0, added).Select(i => (long)i), read.Select(e => e.Data.SequenceNumber));
        Assert.Equal(Enumerable.Range(0, added), read.Select(e => (int)e.Data.Properties["index"]));
        Assert.All(read, e => Assert.Equal(100_000, e.Data.EventBody.ToMemory().Length));
    }

    [Fact]
    public async Task Offsets_AreCumulativeBytePositionsAsDecimalStrings()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        await Emulators.SendAsync(emulator, "0", Emulators.Event("a"), Emulators.Event("bb"), Emulators.Event("ccc"));

        List<PartitionEvent> read = await Emulators.ReadAsync(emulator, "0", EventPosition.Earliest, 3);

        long[] offsets = [.. read.Select(e => long.Parse(e.Data.OffsetString, System.Globalization.CultureInfo.InvariantCulture))];
        Assert.Equal(0, offsets[0]);
        Assert.True(offsets[1] > offsets[0] && offsets[2] > offsets[1], string.Join(",", offsets));
    }

    [Fact]
    public async Task PartitionKey_RoutesEveryEventToTheHashedPartition_AndIsDelivered()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync(partitions: 4);
        await using var producer = new EventHubProducerClient(emulator.ConnectionString);
        string expected = PartitionKeyHash.PartitionIndex("tenant-a", 4).ToString(System.Globalization.CultureInfo.InvariantCulture);

        await producer.SendAsync([Emulators.Event("one", 0)], new SendEventOptions { PartitionKey = "tenant-a" });
        using EventDataBatch batch = await producer.CreateBatchAsync(new CreateBatchOptions { PartitionKey = "tenant-a" });
        Assert.True(batch.TryAdd(Emulators.Event("two", 1)));
        Assert.True(batch.TryAdd(Emulators.Event("three", 2)));
        await producer.SendAsync(batch);

        Assert.Equal(3, emulator.GetPartition(expected).RetainedEvents);
        List<PartitionEvent> read = await Emulators.ReadAsync(emulator, expected, EventPosition.Earliest, 3);
        Assert.All(read, e => Assert.Equal("tenant-a", e.Data.PartitionKey));
        Assert.Equal(["one", "two", "three"], read.Select(e => e.Data.EventBody.ToString()));
    }

    [Fact]
    public async Task PartitionId_SendsOnlyToThatPartition()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync(partitions: 3);

        await Emulators.SendAsync(emulator, "2", Emulators.Event("for two"));

        Assert.Equal([0, 0, 1], emulator.PartitionIds.Select(id => emulator.GetPartition(id).RetainedEvents));
    }

    [Fact]
    public async Task NoPartition_RoundRobinsAcrossPartitions()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync(partitions: 2);
        await using var producer = new EventHubProducerClient(emulator.ConnectionString);

        for (int i = 0; i < 4; i++)
        {
            await producer.SendAsync([Emulators.Event("spread", i)]);
        }

        Assert.Equal(2, emulator.GetPartition("0").RetainedEvents);
        Assert.Equal(2, emulator.GetPartition("1").RetainedEvents);
    }

    [Fact]
    public async Task OversizedEvent_IsRefusedWithMessageSizeExceeded()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();

        var exception = await Assert.ThrowsAsync<EventHubsException>(
            () => Emulators.SendAsync(emulator, "0", new EventData(new byte[EmulatorOptions.DefaultMaxMessageSize + 1])));

        Assert.Equal(EventHubsException.FailureReason.MessageSizeExceeded, exception.Reason);
        Assert.Equal(0, emulator.GetPartition("0").RetainedEvents);
    }

    [Fact]
    public async Task ManySingleSends_OnOneLink_OutlastThePublisherCredit()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        await using var producer = new EventHubProducerClient(emulator.ConnectionString);
        const int Count = 250;

        for (int i = 0; i < Count; i++)
        {
            await producer.SendAsync([Emulators.Event("n", i)], new SendEventOptions { PartitionId = "0" });
        }

        List<PartitionEvent> read = await Emulators.ReadAsync(emulator, "0", EventPosition.Earliest, Count);
        Assert.Equal(Enumerable.Range(0, Count), read.Select(e => (int)e.Data.Properties["index"]));
    }

    [Fact]
    public async Task TokenForAnotherKeyName_IsUnauthorized()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        string otherKey = emulator.ConnectionString.Replace("SharedAccessKeyName=RootManageSharedAccessKey", "SharedAccessKeyName=Someone", StringComparison.Ordinal);
        // The SDK retries authorization failures; one try is enough to see the refusal.
        await using var producer = new EventHubProducerClient(otherKey, new EventHubProducerClientOptions
        {
            RetryOptions = new EventHubsRetryOptions { MaximumRetries = 0 },
        });

        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => producer.SendAsync([Emulators.Event("denied")]));
        Assert.Equal(0, emulator.GetPartition("0").RetainedEvents + emulator.GetPartition("1").RetainedEvents);
    }
}
