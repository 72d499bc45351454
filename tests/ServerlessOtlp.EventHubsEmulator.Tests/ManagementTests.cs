using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Producer;
using Microsoft.Extensions.Time.Testing;

namespace ServerlessOtlp.EventHubsEmulator.Tests;

/// <summary>The $management READ answers, as the SDK's typed models see them.</summary>
public sealed class ManagementTests
{
    [Fact]
    public async Task EventHubProperties_ReportNameCreationAndPartitionIds()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
        await using EventHubsEmulator emulator = await Emulators.StartAsync(partitions: 3, configure: o => o.TimeProvider = clock);
        await using var producer = new EventHubProducerClient(emulator.ConnectionString);

        EventHubProperties properties = await producer.GetEventHubPropertiesAsync();

        Assert.Equal("otlp", properties.Name);
        Assert.Equal(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero), properties.CreatedOn);
        Assert.Equal(["0", "1", "2"], properties.PartitionIds);
        Assert.Equal(["0", "1", "2"], await producer.GetPartitionIdsAsync());
    }

    [Fact]
    public async Task PartitionProperties_OfANewPartition_AreEmpty()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        await using var producer = new EventHubProducerClient(emulator.ConnectionString);

        PartitionProperties properties = await producer.GetPartitionPropertiesAsync("1");

        Assert.Equal("otlp", properties.EventHubName);
        Assert.Equal("1", properties.Id);
        Assert.True(properties.IsEmpty);
        Assert.Equal(0, properties.BeginningSequenceNumber);
        Assert.Equal(-1, properties.LastEnqueuedSequenceNumber);
        Assert.Equal("-1", properties.LastEnqueuedOffsetString);
    }

    /// <summary>
    /// A drain dispatcher polls every partition's properties every second on one connection: hundreds of
    /// requests on the same management link (the emulator once granted 50 and never flowed more).
    /// </summary>
    [Fact]
    public async Task ManyManagementRequests_OnOneConnection_AreAllAnswered()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync(partitions: 4);
        await using var producer = new EventHubProducerClient(emulator.ConnectionString);
        using var deadline = new CancellationTokenSource(Emulators.Patience);
        for (int round = 0; round < 60; round++)
        {
            var answers = await Task.WhenAll(emulator.PartitionIds.Select(id => producer.GetPartitionPropertiesAsync(id, deadline.Token)));
            Assert.Equal(emulator.PartitionIds, answers.Select(a => a.Id));
        }
    }

    [Fact]
    public async Task PartitionProperties_ReportTheLastEnqueuedEvent()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
        await using EventHubsEmulator emulator = await Emulators.StartAsync(configure: o => o.TimeProvider = clock);
        await Emulators.SendAsync(emulator, "0", Emulators.Event("a"), Emulators.Event("b"));
        clock.Advance(TimeSpan.FromSeconds(30));
        await Emulators.SendAsync(emulator, "0", Emulators.Event("c"));
        string lastOffset = (await Emulators.ReadAsync(emulator, "0", Azure.Messaging.EventHubs.Consumer.EventPosition.Earliest, 3))[2].Data.OffsetString;
        await using var producer = new EventHubProducerClient(emulator.ConnectionString);

        PartitionProperties properties = await producer.GetPartitionPropertiesAsync("0");

        Assert.False(properties.IsEmpty);
        Assert.Equal(0, properties.BeginningSequenceNumber);
        Assert.Equal(2, properties.LastEnqueuedSequenceNumber);
        Assert.Equal(lastOffset, properties.LastEnqueuedOffsetString);
        Assert.Equal(clock.GetUtcNow(), properties.LastEnqueuedTime);
    }

    [Fact]
    public async Task PartitionProperties_OfAnUnknownPartition_AreResourceNotFound()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        await using var producer = new EventHubProducerClient(emulator.ConnectionString);

        var exception = await Assert.ThrowsAsync<EventHubsException>(() => producer.GetPartitionPropertiesAsync("9"));

        Assert.Equal(EventHubsException.FailureReason.ResourceNotFound, exception.Reason);
    }

    [Fact]
    public async Task EventHubProperties_OfAnUnknownHub_AreResourceNotFound()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        string withoutEntity = emulator.ConnectionString.Replace(";EntityPath=otlp", string.Empty, StringComparison.Ordinal);
        await using var producer = new EventHubProducerClient(withoutEntity, "elsewhere");

        var exception = await Assert.ThrowsAsync<EventHubsException>(() => producer.GetEventHubPropertiesAsync());

        Assert.Equal(EventHubsException.FailureReason.ResourceNotFound, exception.Reason);
    }

    [Fact]
    public async Task SendingToAnUnknownHub_IsResourceNotFound()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        string withoutEntity = emulator.ConnectionString.Replace(";EntityPath=otlp", string.Empty, StringComparison.Ordinal);
        await using var producer = new EventHubProducerClient(withoutEntity, "elsewhere");

        var exception = await Assert.ThrowsAsync<EventHubsException>(() => producer.SendAsync([Emulators.Event("lost")]));

        Assert.Equal(EventHubsException.FailureReason.ResourceNotFound, exception.Reason);
    }
}
