using System.Collections.Concurrent;
using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Consumer;
using Azure.Messaging.EventHubs.Primitives;
using Microsoft.Extensions.Logging.Abstractions;
using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Export;
using ServerlessOtlp.Tests.Infrastructure;
using ServerlessOtlp.Tests.Processing;

namespace ServerlessOtlp.Tests.EventHubs;

/// <summary>
/// The defects review found in the Event Hubs log, each on the local AMQP endpoint through the real SDK:
/// reads over their byte limit and receiver reopens, unbounded prefetch, replay by time in the live
/// consumer group, and the sixth reader of a partition.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class EventHubsLogEmulatorTests(AzuriteFixture azurite)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task ReadAsync_stops_at_maxBytes_and_serves_the_surplus_from_the_same_receiver()
    {
        await using var hub = await EmulatedHub.StartAsync();
        await using var log = await hub.OpenLogAsync();
        const int size = 300_000, count = 7, maxBytes = 700_000;
        await log.AppendAsync(0, Enumerable.Range(0, count).Select(i => EmulatedHub.Event("acme", size, fill: (byte)i)).ToList());

        var read = new List<ReadEvent>();
        var position = new LogPosition(0);
        using var deadline = new CancellationTokenSource(Patience);
        while (read.Count < count)
        {
            var batch = await log.ReadAsync(0, position, maxEvents: 100, maxBytes, new FencingToken(3), deadline.Token);
            Assert.True(batch.Events.Count <= 2, $"a read of {batch.Events.Count} events of {size} bytes is over maxBytes {maxBytes}");
            read.AddRange(batch.Events);
            position = batch.Next;
        }

        Assert.Equal(Enumerable.Range(0, count).Select(i => (long)i), read.Select(e => e.Position.Value));
        Assert.Equal(Enumerable.Range(0, count).Select(i => (byte)i), read.Select(e => e.Body.Span[0]));
        Assert.Equal(1, hub.ReceiversOpened);
    }

    [Fact]
    public async Task Receivers_hold_what_a_read_asks_for_rather_than_prefetching_300_large_events()
    {
        await using var hub = await EmulatedHub.StartAsync();
        await using var log = await hub.OpenLogAsync();
        const int size = 900_000, count = 60;
        for (int i = 0; i < count; i += 4)
        {
            await log.AppendAsync(0, Enumerable.Range(i, 4).Select(n => EmulatedHub.Event("acme", size, fill: (byte)n)).ToList());
        }

        // The SDK's defaults would pull the whole partition (300 events of credit) at once: the control.
        await using (var unbounded = new PartitionReceiver(EmulatedHub.ReplayGroup, "0", EventPosition.Earliest, hub.ConnectionString))
        {
            Assert.Single(await unbounded.ReceiveBatchAsync(1, TimeSpan.FromSeconds(5)));
            await WaitUntilAsync(() => hub.Emulator.GetDeliveredEvents(EmulatedHub.ReplayGroup, "0") == count, "the unbounded receiver prefetched everything");
        }

        // The log's receivers request per read what its byte limit holds (here one event): nothing piles up ahead.
        var position = new LogPosition(0);
        int returned = 0;
        long mostAhead = 0;
        using var deadline = new CancellationTokenSource(Patience);
        while (returned < count)
        {
            var batch = await log.ReadAsync(0, position, maxEvents: 1, maxBytes: size, new FencingToken(1), deadline.Token);
            returned += batch.Events.Count;
            position = batch.Next;
            mostAhead = Math.Max(mostAhead, hub.Emulator.GetDeliveredEvents(EmulatedHub.LiveGroup, "0") - returned);
        }

        Assert.True(mostAhead <= 2, $"the receiver ran {mostAhead} events of {size} bytes ahead of the reader");
        Assert.Equal(count, hub.Emulator.GetDeliveredEvents(EmulatedHub.LiveGroup, "0"));
        Assert.Equal(1, hub.ReceiversOpened);
    }

    [Fact]
    public async Task A_drain_whose_events_are_larger_than_its_memory_grant_reads_each_event_once_on_one_receiver()
    {
        await using var hub = await EmulatedHub.StartAsync();
        await using var log = await hub.OpenLogAsync();
        const int size = 600_000, count = 12;
        for (int i = 0; i < count; i += 3)
        {
            await log.AppendAsync(0, Enumerable.Range(i, 3).Select(n => EmulatedHub.Event("acme", size, fill: (byte)n)).ToList());
        }

        var storage = azurite.IsolatedStorage();
        var checkpoints = new ServerlessOtlp.Storage.CheckpointStore(storage.Tables, storage.Names.Checkpoints);
        var leases = new LeaseStore(storage.Tables, storage.Names.Leases);
        var deadLetters = new DeadLetterStore(storage.Blobs.GetBlobContainerClient(storage.Names.DeadLetterContainer));
        await checkpoints.EnsureCreatedAsync();
        await leases.EnsureCreatedAsync();
        await deadLetters.EnsureCreatedAsync();
        var processor = new CountingProcessor();

        // Each read is granted at most 256 KiB, less than one event: every event goes the over-grant way.
        var options = DrainTestContext.Options("drain-" + Guid.NewGuid().ToString("N")[..6], o =>
        {
            o.ConsumerGroup = EmulatedHub.LiveGroup;
            o.BatchMaxBytes = 256 * 1024;
            o.MemoryBudgetBytes = 1024 * 1024;
        });
        var engine = new DrainEngine(log, checkpoints, leases, processor, deadLetters, options);
        var result = await engine.DrainAsync(0);

        Assert.Equal(DrainEnd.Idle, result.End);
        Assert.Equal(Enumerable.Range(0, count).Select(i => (long)i), processor.Seen.Order());
        Assert.Equal(count, processor.Seen.Count);
        Assert.Equal(new LogPosition(count), result.Checkpoint);
        Assert.Equal(1, hub.ReceiversOpened);
        Assert.Equal(count, hub.Emulator.GetDeliveredEvents(EmulatedHub.LiveGroup, "0"));
        Assert.Equal(0, engine.Memory.InUse);
    }

    [Fact]
    public async Task FindPositionAsync_answers_while_a_drain_holds_the_live_partition_with_its_owner_level()
    {
        await using var hub = await EmulatedHub.StartAsync();
        await using var log = await hub.OpenLogAsync();
        await log.AppendAsync(0, [EmulatedHub.Event("acme", 10), EmulatedHub.Event("acme", 10)]);
        var between = DateTimeOffset.UtcNow;
        await WaitUntilAsync(() => DateTimeOffset.UtcNow > between.AddMilliseconds(5), "the clock moved past the first events");
        await log.AppendAsync(0, [EmulatedHub.Event("acme", 10)]);

        // The live drain's exclusive receiver, as a drain with lease epoch 4 holds it.
        var live = await log.ReadAsync(0, new LogPosition(0), 10, 1024 * 1024, new FencingToken(4));
        Assert.NotEmpty(live.Events);
        Assert.Equal(new EventHubsEmulator.ReaderSnapshot(1, 4), hub.Emulator.GetReaders(EmulatedHub.LiveGroup, "0"));

        Assert.Equal(new LogPosition(2), await log.FindPositionAsync(0, between));
        Assert.Equal(new LogPosition(3), await log.FindPositionAsync(0, DateTimeOffset.UtcNow.AddHours(1)));

        // The drain kept its receiver: the lookup read in the replay group and left.
        Assert.Equal(new EventHubsEmulator.ReaderSnapshot(1, 4), hub.Emulator.GetReaders(EmulatedHub.LiveGroup, "0"));
        await WaitUntilAsync(() => hub.Emulator.GetReaders(EmulatedHub.ReplayGroup, "0").Count == 0, "the lookup's receiver closed");
        var rest = new List<ReadEvent>(live.Events);
        using var deadline = new CancellationTokenSource(Patience);
        for (var next = live.Next; rest.Count < 3; )
        {
            var more = await log.ReadAsync(0, next, 10, 1024 * 1024, new FencingToken(4), deadline.Token);
            rest.AddRange(more.Events);
            next = more.Next;
        }

        Assert.Equal([0L, 1L, 2L], rest.Select(e => e.Position.Value));
        Assert.Equal(1, hub.ReceiversOpened - 2); // the drain's receiver, besides the two lookups
    }

    [Fact]
    public async Task A_sixth_tenant_replay_cursor_on_a_partition_waits_for_a_reader_and_then_completes()
    {
        await using var hub = await EmulatedHub.StartAsync();
        await using var log = await hub.OpenLogAsync();
        string outDir = Directory.CreateTempSubdirectory("replay-quota-").FullName;
        var tenants = new InMemoryTenantDirectory(new TenantFile
        {
            Tenants = [new TenantConfig { Id = "acme", Destinations = [new DestinationConfig { Name = "out", Kind = FileDestination.KindName, Signals = [Signal.Traces], Settings = new FileSettings { Path = outDir } }] }],
        });
        var services = await ProcessingServices.CreateAsync(log, azurite.IsolatedStorage(), tenants, DrainTestContext.Options("runner-" + Guid.NewGuid().ToString("N")[..6], o => o.ConsumerGroup = EmulatedHub.LiveGroup), NullLoggerFactory.Instance, TestEgress.Local);
        await log.AppendAsync(0, Enumerable.Range(0, 6).Select(n => DrainTestContext.Event(DrainTestContext.SpanBody(n), "acme")).ToList());
        Assert.Equal(DrainEnd.Idle, (await services.Engine.DrainAsync(0)).End);
        var replay = new TenantReplay(services);

        // Five readers without an owner level (five other tenants' cursors) fill the partition in the replay group.
        var others = new List<PartitionReceiver>();
        for (int i = 0; i < ReaderLimitException.MaxReadersWithoutOwnerLevel; i++)
        {
            others.Add(await hub.AttachReaderAsync(EmulatedHub.ReplayGroup));
        }

        try
        {
            // A start by time needs a reader too: refused with a message that says why.
            var refused = await Assert.ThrowsAsync<ReaderLimitException>(() => replay.StartAsync("acme", 0, DateTimeOffset.UtcNow.AddHours(-1), null, "test"));
            Assert.Contains("already has 5 readers in consumer group \"replay\"", refused.Message, StringComparison.Ordinal);

            var cursor = await replay.StartAsync("acme", 0, from: null, position: 0, by: "test");
            var waiting = await replay.DrainAsync(new DrainJob(0, "replay", Tenant: "acme"), keepAlive: false);
            Assert.NotNull(waiting);
            Assert.Equal(DrainEnd.RetryLater, waiting.End);
            var stillActive = await services.Checkpoints.ReadCursorAsync(log.Name, "acme", 0);
            Assert.False(stillActive!.IsDone);
            Assert.Equal(cursor.Start, stillActive.Position);
            Assert.True((await services.Leases.ReadAsync(log.Name, cursor.Group, 0)).IsClaimable, "the waiting cursor released its lease");

            // One reader leaves: the next drain of the cursor reads and reaches its end.
            await others[0].CloseAsync();
            others.RemoveAt(0);
            await WaitUntilAsync(() => hub.Emulator.GetReaders(EmulatedHub.ReplayGroup, "0").Count == 4, "a place was released");
            var done = await replay.DrainAsync(new DrainJob(0, "replay", Tenant: "acme"), keepAlive: false);
            Assert.Equal(DrainEnd.ReachedEnd, done!.End);

            // Every span twice: once by the live drain, once by the replay.
            string written = File.ReadAllText(Path.Combine(outDir, "traces.jsonl"));
            Assert.All(Enumerable.Range(0, 6), n => Assert.Equal(2, written.Split($"\"span-{n}\"").Length - 1));
        }
        finally
        {
            foreach (var receiver in others)
            {
                await receiver.DisposeAsync();
            }
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        using var deadline = new CancellationTokenSource(Patience);
        while (!condition())
        {
            try
            {
                await Task.Delay(20, deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException("gave up waiting until " + what);
            }
        }
    }

    private sealed class CountingProcessor : IEventProcessor
    {
        public ConcurrentBag<long> Seen { get; } = [];

        public Task<EventFate> ProcessAsync(int partition, ReadEvent logEvent, CancellationToken cancellationToken = default)
        {
            Seen.Add(logEvent.Position.Value);
            return Task.FromResult(EventFate.Delivered);
        }
    }
}
