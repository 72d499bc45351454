using Azure.Messaging.EventHubs;
using Microsoft.Extensions.Logging.Abstractions;
using ServerlessOtlp.EventHubsEmulator;
using ServerlessOtlp.Export;
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
/// The drain engine on Event Hubs (the local AMQP endpoint, the real SDK): a partition taken over by a second
/// owner is cut off at the service by the owner level (the lease epoch), and per-tenant replay cursors read in
/// the replay consumer group beside the live drain's exclusive receiver.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class EventHubsDrainTests(AzuriteFixture azurite)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task A_second_owner_taking_the_partition_cuts_the_first_off_at_the_service_and_fences_its_checkpoint()
    {
        await using var hub = await EmulatedHub.StartAsync();
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        await using var logA = await hub.OpenLogAsync();
        await using var logB = await hub.OpenLogAsync();
        await logA.AppendAsync(0, Enumerable.Range(0, 20).Select(n => DrainTestContext.Event(DrainTestContext.SpanBody(n))).ToList());

        // A long TTL: only the takeover below ends A's lease, not a renewal race.
        static DrainOptions Options(string owner) => DrainTestContext.Options(owner, o =>
        {
            o.ConsumerGroup = EmulatedHub.LiveGroup;
            o.LeaseTtl = TimeSpan.FromSeconds(60);
            o.ExportTimeout = TimeSpan.FromSeconds(20);
        });
        var frozen = new FreezingProcessor(ctx.FileProcessor(), freezeAtSpan: 3);
        var a = new DrainEngine(logA, ctx.Checkpoints, ctx.Leases, frozen, ctx.DeadLetters, Options("owner-a"));
        var b = new DrainEngine(logB, ctx.Checkpoints, ctx.Leases, ctx.FileProcessor(), ctx.DeadLetters, Options("owner-b"));

        var drainA = a.DrainAsync(0);
        await frozen.Frozen.WaitAsync(Patience);
        var leaseA = await ctx.Leases.ReadAsync(logA.Name, EmulatedHub.LiveGroup, 0);
        Assert.Equal(new ReaderSnapshot(1, leaseA.Epoch), hub.Emulator.GetReaders(EmulatedHub.LiveGroup, "0"));

        // A stalls (frozen mid-batch); the failure detector expires its lease; B claims the next epoch.
        Assert.True(await ctx.Leases.ExpireAsync(logA.Name, EmulatedHub.LiveGroup, 0, "owner-a"));
        var resultB = await b.DrainAsync(0);
        Assert.Equal((DrainEnd.Idle, 20L), (resultB.End, resultB.Events));
        var leaseB = await ctx.Leases.ReadAsync(logA.Name, EmulatedHub.LiveGroup, 0);
        Assert.True(leaseB.Epoch > leaseA.Epoch);
        Assert.Equal(new ReaderSnapshot(1, leaseB.Epoch), hub.Emulator.GetReaders(EmulatedHub.LiveGroup, "0"));

        // A wakes up: it cannot move the checkpoint, and the service no longer serves its epoch.
        frozen.Thaw();
        var resultA = await drainA.WaitAsync(Patience);
        Assert.Equal(DrainEnd.LeaseLost, resultA.End);
        var checkpoint = await ctx.Checkpoints.ReadAsync(logA.Name, EmulatedHub.LiveGroup, 0);
        Assert.Equal((20L, "owner-b"), (checkpoint.Position, checkpoint.Owner));
        var refused = await Assert.ThrowsAsync<EventHubsException>(() => logA.ReadAsync(0, new LogPosition(4), 10, 1024 * 1024, FencingToken.FromEpoch(leaseA.Epoch)));
        Assert.Equal(EventHubsException.FailureReason.ConsumerDisconnected, refused.Reason);
        Assert.Equal(new ReaderSnapshot(1, leaseB.Epoch), hub.Emulator.GetReaders(EmulatedHub.LiveGroup, "0"));

        // Every span delivered; A's half-done batch (up to the freeze) at most once more.
        var delivered = ctx.Delivered();
        Assert.Equal(Enumerable.Range(0, 20), delivered.Distinct().Order());
        Assert.True(delivered.Count <= 20 + 10, $"{delivered.Count - 20} duplicates: more than A's one batch of 10");
    }

    [Fact]
    public async Task Tenant_replay_cursors_read_in_the_replay_group_while_the_live_drain_keeps_its_exclusive_receiver()
    {
        const string A = "tenant-a", B = "tenant-b";
        await using var hub = await EmulatedHub.StartAsync();
        await using var log = await hub.OpenLogAsync();
        var dirs = new[] { A, B }.ToDictionary(t => t, t => Directory.CreateTempSubdirectory("eh-replay-" + t + "-").FullName);
        var tenants = new InMemoryTenantDirectory(new TenantFile
        {
            Tenants = dirs.Select(d => new TenantConfig { Id = d.Key, Destinations = [new DestinationConfig { Name = "out", Kind = FileDestination.KindName, Signals = [Signal.Traces], Settings = new FileSettings { Path = d.Value } }] }).ToList(),
        });
        var services = await ProcessingServices.CreateAsync(log, azurite.IsolatedStorage(), tenants,
            DrainTestContext.Options("live-" + Guid.NewGuid().ToString("N")[..6], o =>
            {
                o.ConsumerGroup = EmulatedHub.LiveGroup;

                // The live drain must outlive the replay however slow the machine is: it ends when the test cancels it,
                // never by idling (300 ms in the shared options) while the cursor reads.
                o.IdleTimeout = Patience;
            }), NullLoggerFactory.Instance, TestEgress.Local);
        Task AppendAsync(int first, int count) =>
            log.AppendAsync(0, Enumerable.Range(first, count).Select(n => DrainTestContext.Event(DrainTestContext.SpanBody(n), n % 2 == 0 ? A : B)).ToList());
        List<int> Delivered(string tenant) => DeliveredSpans(dirs[tenant]);

        await AppendAsync(0, 20);
        using var stopLive = new CancellationTokenSource();
        var live = services.Engine.DrainAsync(0, keepAlive: true, stopLive.Token); // the runner's drain: stays on the partition
        await WaitUntilAsync(() => Delivered(A).Count == 10 && Delivered(B).Count == 10, "the live drain delivered the backlog");
        var liveReaders = hub.Emulator.GetReaders(EmulatedHub.LiveGroup, "0");
        Assert.NotNull(liveReaders.OwnerLevel);

        // Tenant A's cursor from the start up to the live checkpoint, beside the running live drain.
        await WaitUntilAsync(() => services.Checkpoints.ReadAsync(log.Name, EmulatedHub.LiveGroup, 0).GetAwaiter().GetResult().Position == 20, "the live checkpoint reached 20");
        var replay = new TenantReplay(services);
        var cursor = await replay.StartAsync(A, 0, from: DateTimeOffset.UtcNow.AddHours(-1), position: null, by: "test");
        Assert.Equal((0L, 20L), (cursor.Start, cursor.End));
        var result = await replay.DrainAsync(new DrainJob(0, "replay", Tenant: A), keepAlive: false);
        Assert.Equal(DrainEnd.ReachedEnd, result!.End);

        Assert.Equal(Enumerable.Range(0, 10).Select(n => 2 * n).SelectMany(n => new[] { n, n }), Delivered(A).Order());
        Assert.Equal(Enumerable.Range(0, 10).Select(n => 2 * n + 1), Delivered(B).Order());
        Assert.Equal(liveReaders, hub.Emulator.GetReaders(EmulatedHub.LiveGroup, "0"));
        Assert.True(hub.Emulator.GetDeliveredEvents(EmulatedHub.ReplayGroup, "0") >= 20, "the cursor read in the replay group");

        // The live drain was never cut off: new data still reaches both tenants through it.
        Assert.False(live.IsCompleted, $"the live drain ended before the new events: {(live.IsCompleted ? live.Result.End : null)}");
        await AppendAsync(20, 4);
        await WaitUntilAsync(() => Delivered(A).Count == 22 && Delivered(B).Count == 12, "the live drain delivered the new events");
        await stopLive.CancelAsync();
        Assert.Equal(DrainEnd.Cancelled, (await live.WaitAsync(Patience)).End);
        foreach (var dir in dirs.Values)
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The numbers of the <c>span-N</c> spans in a file destination, with repeats.</summary>
    private static List<int> DeliveredSpans(string dir)
    {
        string file = Path.Combine(dir, "traces.jsonl");
        if (!File.Exists(file))
        {
            return [];
        }

        string text;
        try
        {
            text = File.ReadAllText(file);
        }
        catch (IOException)
        {
            return []; // being written: asked again
        }

        return System.Text.RegularExpressions.Regex.Matches(text, "\"span-(\\d+)\"").Select(m => int.Parse(m.Groups[1].Value)).ToList();
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        using var deadline = new CancellationTokenSource(Patience);
        while (!condition())
        {
            try
            {
                await Task.Delay(50, deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException("gave up waiting until " + what);
            }
        }
    }
}
