using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Consumer;
using Azure.Messaging.EventHubs.Producer;
using Microsoft.Extensions.Time.Testing;

namespace ServerlessOtlp.EventHubsEmulator.Tests;

/// <summary>Retention: expired events disappear, sequence numbers never restart.</summary>
public sealed class RetentionTests
{
    private static readonly DateTimeOffset Start = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task ExpiredEvents_AdvanceTheBeginSequenceNumber_AndEarliestStartsAtTheFirstRetained()
    {
        var clock = new FakeTimeProvider(Start);
        await using EventHubsEmulator emulator = await Emulators.StartAsync(configure: o =>
        {
            o.TimeProvider = clock;
            o.Retention = TimeSpan.FromHours(1);
        });
        await Emulators.SendAsync(emulator, "0", Emulators.Event("old", 0), Emulators.Event("old", 1), Emulators.Event("old", 2));
        clock.Advance(TimeSpan.FromMinutes(30));
        await Emulators.SendAsync(emulator, "0", Emulators.Event("young", 3), Emulators.Event("young", 4));

        clock.Advance(TimeSpan.FromMinutes(31));
        Assert.Equal(3, emulator.ApplyRetention());

        await using var producer = new EventHubProducerClient(emulator.ConnectionString);
        PartitionProperties properties = await producer.GetPartitionPropertiesAsync("0");
        Assert.Equal(3, properties.BeginningSequenceNumber);
        Assert.Equal(4, properties.LastEnqueuedSequenceNumber);
        Assert.False(properties.IsEmpty);
        List<PartitionEvent> earliest = await Emulators.ReadAsync(emulator, "0", EventPosition.Earliest, 2);
        Assert.Equal([3L, 4], earliest.Select(e => e.Data.SequenceNumber));

        // A position before the first retained event starts at the first retained event.
        List<PartitionEvent> fromExpired = await Emulators.ReadAsync(emulator, "0", EventPosition.FromSequenceNumber(1), 1);
        Assert.Equal(3, fromExpired.Single().Data.SequenceNumber);
    }

    [Fact]
    public async Task WhenEverythingExpired_ThePartitionIsEmpty_AndNumberingContinues()
    {
        var clock = new FakeTimeProvider(Start);
        await using EventHubsEmulator emulator = await Emulators.StartAsync(configure: o =>
        {
            o.TimeProvider = clock;
            o.Retention = TimeSpan.FromHours(1);
        });
        await Emulators.SendAsync(emulator, "1", Emulators.Event("a"), Emulators.Event("b"));
        DateTimeOffset lastEnqueued = clock.GetUtcNow();

        // Retention also applies on its own when the partition is next touched.
        clock.Advance(TimeSpan.FromHours(2));
        await using var producer = new EventHubProducerClient(emulator.ConnectionString);
        PartitionProperties empty = await producer.GetPartitionPropertiesAsync("1");

        Assert.True(empty.IsEmpty);
        Assert.Equal(2, empty.BeginningSequenceNumber);
        Assert.Equal(1, empty.LastEnqueuedSequenceNumber);
        Assert.Equal(lastEnqueued, empty.LastEnqueuedTime);

        await producer.SendAsync([Emulators.Event("c")], new SendEventOptions { PartitionId = "1" });
        PartitionEvent next = (await Emulators.ReadAsync(emulator, "1", EventPosition.Earliest, 1)).Single();
        Assert.Equal(2, next.Data.SequenceNumber);
        Assert.Equal("c", next.Data.EventBody.ToString());
    }

    [Fact]
    public async Task ExpireAllEvents_EmptiesEveryPartitionAtOnce()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        await Emulators.SendAsync(emulator, "0", Emulators.Event("a"));
        await Emulators.SendAsync(emulator, "1", Emulators.Event("b"), Emulators.Event("c"));

        Assert.Equal(3, emulator.ExpireAllEvents());

        Assert.Equal(new PartitionSnapshot("0", 1, 0, 0, IsEmpty: true), emulator.GetPartition("0"));
        Assert.Equal(new PartitionSnapshot("1", 2, 1, 0, IsEmpty: true), emulator.GetPartition("1"));
    }

    [Fact]
    public async Task ReaderWaitingAtTheEnd_SkipsEventsThatExpiredBeforeItGotCredit()
    {
        var clock = new FakeTimeProvider(Start);
        await using EventHubsEmulator emulator = await Emulators.StartAsync(configure: o =>
        {
            o.TimeProvider = clock;
            o.Retention = TimeSpan.FromHours(1);
        });
        await Emulators.SendAsync(emulator, "0", Emulators.Event("gone"));
        clock.Advance(TimeSpan.FromHours(2));
        await Emulators.SendAsync(emulator, "0", Emulators.Event("kept"));

        PartitionEvent first = (await Emulators.ReadAsync(emulator, "0", EventPosition.FromSequenceNumber(0), 1)).Single();

        Assert.Equal(1, first.Data.SequenceNumber);
        Assert.Equal("kept", first.Data.EventBody.ToString());
    }
}
