using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Consumer;
using Azure.Messaging.EventHubs.Primitives;

namespace ServerlessOtlp.EventHubsEmulator.Tests;

/// <summary>Owner levels (epochs) and the reader quota, per partition and consumer group.</summary>
public sealed class OwnerLevelTests
{
    private static PartitionReceiver Receiver(EventHubsEmulator emulator, long? ownerLevel, string partitionId = "0", string consumerGroup = "$Default") =>
        new(consumerGroup, partitionId, EventPosition.Earliest, emulator.ConnectionString, new PartitionReceiverOptions { OwnerLevel = ownerLevel });

    /// <summary>A receive attaches the receiver's link (PartitionReceiver attaches lazily).</summary>
    private static Task<IEnumerable<EventData>> AttachAsync(PartitionReceiver receiver) =>
        receiver.ReceiveBatchAsync(1, TimeSpan.FromMilliseconds(50));

    [Fact]
    public async Task HigherOwnerLevel_StealsThePartition_AndTheFirstReceiverIsConsumerDisconnected()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        await using PartitionReceiver first = Receiver(emulator, ownerLevel: 1);
        await using PartitionReceiver second = Receiver(emulator, ownerLevel: 2);
        await AttachAsync(first);

        await AttachAsync(second);

        var stolen = await Assert.ThrowsAsync<EventHubsException>(() => Emulators.ReceiveAsync(first, 1));
        Assert.Equal(EventHubsException.FailureReason.ConsumerDisconnected, stolen.Reason);
        Assert.Equal(new ReaderSnapshot(1, 2), emulator.GetReaders("$Default", "0"));
    }

    [Fact]
    public async Task StolenReceiver_ReconnectingWithItsOldOwnerLevel_IsRefused()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        await using PartitionReceiver first = Receiver(emulator, ownerLevel: 1);
        await using PartitionReceiver second = Receiver(emulator, ownerLevel: 2);
        await AttachAsync(first);
        await AttachAsync(second);
        await Assert.ThrowsAsync<EventHubsException>(() => Emulators.ReceiveAsync(first, 1));

        // The SDK reports the theft once, then attaches again with the owner level it was built with.
        var refused = await Assert.ThrowsAsync<EventHubsException>(() => AttachAsync(first));

        Assert.Equal(EventHubsException.FailureReason.ConsumerDisconnected, refused.Reason);
        Assert.Equal(new ReaderSnapshot(1, 2), emulator.GetReaders("$Default", "0"));
        await Emulators.SendAsync(emulator, "0", Emulators.Event("for the owner"));
        Assert.Equal("for the owner", Assert.Single(await Emulators.ReceiveAsync(second, 1)).EventBody.ToString());
    }

    [Fact]
    public async Task EqualOwnerLevel_AlsoTakesThePartition()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        await using PartitionReceiver first = Receiver(emulator, ownerLevel: 5);
        await using PartitionReceiver second = Receiver(emulator, ownerLevel: 5);
        await AttachAsync(first);

        await AttachAsync(second);

        var stolen = await Assert.ThrowsAsync<EventHubsException>(() => Emulators.ReceiveAsync(first, 1));
        Assert.Equal(EventHubsException.FailureReason.ConsumerDisconnected, stolen.Reason);
    }

    [Fact]
    public async Task ReaderWithoutOwnerLevel_IsRefusedWhileAnOwnerHoldsThePartition()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        await using PartitionReceiver owner = Receiver(emulator, ownerLevel: 3);
        await AttachAsync(owner);

        var refused = await Assert.ThrowsAsync<EventHubsException>(
            () => Emulators.ReadAsync(emulator, "0", EventPosition.Earliest, 1));
        await using PartitionReceiver lower = Receiver(emulator, ownerLevel: 2);
        var lowerRefused = await Assert.ThrowsAsync<EventHubsException>(() => AttachAsync(lower));

        Assert.Equal(EventHubsException.FailureReason.ConsumerDisconnected, refused.Reason);
        Assert.Equal(EventHubsException.FailureReason.ConsumerDisconnected, lowerRefused.Reason);
        Assert.Equal(new ReaderSnapshot(1, 3), emulator.GetReaders("$Default", "0"));
    }

    [Fact]
    public async Task OwnerLevel_DisconnectsReadersWithoutOne()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        await using PartitionReceiver plain = Receiver(emulator, ownerLevel: null);
        await using PartitionReceiver owner = Receiver(emulator, ownerLevel: 0);
        await AttachAsync(plain);

        await AttachAsync(owner);

        var stolen = await Assert.ThrowsAsync<EventHubsException>(() => Emulators.ReceiveAsync(plain, 1));
        Assert.Equal(EventHubsException.FailureReason.ConsumerDisconnected, stolen.Reason);
    }

    [Fact]
    public async Task SixthReaderWithoutOwnerLevel_FailsWithQuotaExceeded()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        var readers = new List<PartitionReceiver>();
        try
        {
            for (int i = 0; i < 5; i++)
            {
                readers.Add(Receiver(emulator, ownerLevel: null));
                await AttachAsync(readers[^1]);
            }

            readers.Add(Receiver(emulator, ownerLevel: null));
            var refused = await Assert.ThrowsAsync<EventHubsException>(() => AttachAsync(readers[^1]));
            Assert.Equal(EventHubsException.FailureReason.QuotaExceeded, refused.Reason);

            // Other partitions and consumer groups have their own quota, and a closed reader frees its place.
            await using PartitionReceiver otherPartition = Receiver(emulator, ownerLevel: null, partitionId: "1");
            await AttachAsync(otherPartition);
            await readers[0].CloseAsync();
            await Emulators.WaitUntilAsync(() => emulator.GetReaders("$Default", "0").Count == 4, "the closed reader released its place");
            await using PartitionReceiver replacement = Receiver(emulator, ownerLevel: null);
            await AttachAsync(replacement);
            Assert.Equal(new ReaderSnapshot(5, null), emulator.GetReaders("$Default", "0"));
        }
        finally
        {
            foreach (PartitionReceiver reader in readers)
            {
                await reader.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task OwnerLevels_AreIndependentPerConsumerGroup()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync(configure: o => o.ConsumerGroups = ["replay"]);
        await using PartitionReceiver defaultOwner = Receiver(emulator, ownerLevel: 9);
        await using PartitionReceiver replayReader = Receiver(emulator, ownerLevel: null, consumerGroup: "replay");
        await AttachAsync(defaultOwner);

        await AttachAsync(replayReader);

        Assert.Equal(new ReaderSnapshot(1, 9), emulator.GetReaders("$Default", "0"));
        Assert.Equal(new ReaderSnapshot(1, null), emulator.GetReaders("replay", "0"));
    }
}
