using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Consumer;
using Azure.Messaging.EventHubs.Primitives;
using Azure.Messaging.EventHubs.Producer;
using Microsoft.Azure.Amqp;
using Microsoft.Azure.Amqp.Framing;
using Microsoft.Azure.Amqp.Sasl;

namespace ServerlessOtlp.EventHubsEmulator.Tests;

/// <summary>What clients other than a well-behaved SDK do: other SASL mechanisms, oversized transfers, crashes, crowds.</summary>
public sealed class RobustnessTests
{
    private const string PartitionZeroReader = "otlp/ConsumerGroups/$Default/Partitions/0";

    private static Task<Outcome> Send(SendingAmqpLink sender, byte[] body) =>
        sender.SendMessageAsync(
            AmqpMessage.Create(new Data { Value = new ArraySegment<byte>(body) }),
            new ArraySegment<byte>(Guid.NewGuid().ToByteArray()),
            AmqpConstants.NullBinary,
            Emulators.Patience);

    [Theory]
    [InlineData("MSSBCBS")]
    [InlineData("ANONYMOUS")]
    [InlineData("PLAIN")]
    public async Task EverySaslMechanismOffered_CanPublishAndRead(string mechanism)
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        SaslHandler sasl = mechanism == "PLAIN"
            ? new SaslPlainHandler { AuthenticationIdentity = "user", Password = "secret" }
            : new SaslAnonymousHandler(mechanism);
        await using RawAmqpClient client = await RawAmqpClient.ConnectAsync(emulator.Port, sasl);

        SendingAmqpLink sender = await client.OpenSenderAsync("/otlp/Partitions/0");
        Outcome outcome = await Send(sender, [1, 2, 3]);
        ReceivingAmqpLink receiver = await client.OpenReceiverAsync(PartitionZeroReader);
        using AmqpMessage received = await receiver.ReceiveMessageAsync(Emulators.Patience);

        Assert.IsType<Accepted>(outcome);
        Assert.Equal(new byte[] { 1, 2, 3 }, ((ArraySegment<byte>)received.DataBody.Single().Value).ToArray());
        Assert.Equal(0L, received.MessageAnnotations.Map["x-opt-sequence-number"]);
        Assert.Equal("0", received.MessageAnnotations.Map["x-opt-offset"]);
        Assert.IsType<DateTime>(received.MessageAnnotations.Map["x-opt-enqueued-time"]);
    }

    [Fact]
    public async Task OversizedTransfer_IgnoringTheAdvertisedLimit_IsRejectedWithMessageSizeExceeded()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        await using RawAmqpClient client = await RawAmqpClient.ConnectAsync(emulator.Port, new SaslAnonymousHandler("MSSBCBS"));
        SendingAmqpLink sender = await client.OpenSenderAsync("/otlp/Partitions/0");
        Assert.Equal((ulong)EmulatorOptions.DefaultMaxMessageSize, sender.Settings.MaxMessageSize);

        Outcome tooLarge = await Send(sender, new byte[1_200_000]);
        Outcome fine = await Send(sender, new byte[1000]);

        Rejected rejected = Assert.IsType<Rejected>(tooLarge);
        Assert.Equal(AmqpErrorCode.MessageSizeExceeded, rejected.Error.Condition);
        Assert.IsType<Accepted>(fine);
        Assert.Equal(1, emulator.GetPartition("0").RetainedEvents);
    }

    [Fact]
    public async Task ClientThatVanishes_ReleasesItsReaderPlaces()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        RawAmqpClient crowd = await RawAmqpClient.ConnectAsync(emulator.Port, new SaslAnonymousHandler("MSSBCBS"));
        for (int i = 0; i < 5; i++)
        {
            await crowd.OpenReceiverAsync(PartitionZeroReader);
        }

        Assert.Equal(new ReaderSnapshot(5, null), emulator.GetReaders("$Default", "0"));

        crowd.Vanish();

        await Emulators.WaitUntilAsync(() => emulator.GetReaders("$Default", "0").Count == 0, "the vanished client's readers were released");
        await Emulators.SendAsync(emulator, "0", Emulators.Event("after the crash"));
        PartitionEvent read = (await Emulators.ReadAsync(emulator, "0", EventPosition.Earliest, 1)).Single();
        Assert.Equal("after the crash", read.Data.EventBody.ToString());
    }

    [Fact]
    public async Task OwnerThatVanishes_ReleasesThePartition()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        await using (var owner = new PartitionReceiver("$Default", "0", EventPosition.Earliest, emulator.ConnectionString,
            new PartitionReceiverOptions { OwnerLevel = 7 }))
        {
            await owner.ReceiveBatchAsync(1, TimeSpan.FromMilliseconds(50));
            Assert.Equal(new ReaderSnapshot(1, 7), emulator.GetReaders("$Default", "0"));
        }

        await Emulators.WaitUntilAsync(() => emulator.GetReaders("$Default", "0").Count == 0, "the closed owner released the partition");
        await using var plain = new PartitionReceiver("$Default", "0", EventPosition.Earliest, emulator.ConnectionString);
        Assert.Empty(await plain.ReceiveBatchAsync(1, TimeSpan.FromMilliseconds(50)));
        Assert.Equal(new ReaderSnapshot(1, null), emulator.GetReaders("$Default", "0"));
    }

    [Fact]
    public async Task ConcurrentPublishersAndReaders_OnSeparateConnections_SeeEveryEventInOrder()
    {
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        const int Publishers = 4;
        const int BatchesEach = 20;
        const int EventsPerBatch = 5;
        const int Total = Publishers * BatchesEach * EventsPerBatch;

        Task<List<PartitionEvent>>[] readers = [.. Enumerable.Range(0, 3).Select(_ => Emulators.ReadAsync(emulator, "0", EventPosition.Earliest, Total))];
        await Task.WhenAll(Enumerable.Range(0, Publishers).Select(async publisher =>
        {
            await using var producer = new EventHubProducerClient(emulator.ConnectionString);
            for (int batch = 0; batch < BatchesEach; batch++)
            {
                EventData[] events = [.. Enumerable.Range(0, EventsPerBatch).Select(i => Emulators.Event($"p{publisher}", (batch * EventsPerBatch) + i))];
                await producer.SendAsync(events, new SendEventOptions { PartitionId = "0" });
            }
        }));

        foreach (Task<List<PartitionEvent>> reader in readers)
        {
            List<PartitionEvent> events = await reader;
            Assert.Equal(Enumerable.Range(0, Total).Select(i => (long)i), events.Select(e => e.Data.SequenceNumber));
            foreach (IGrouping<string, PartitionEvent> byPublisher in events.GroupBy(e => e.Data.EventBody.ToString()))
            {
                Assert.Equal(Enumerable.Range(0, BatchesEach * EventsPerBatch), byPublisher.Select(e => (int)e.Data.Properties["index"]));
            }
        }
    }
}
