using System.Text.RegularExpressions;
using Azure.Messaging.EventHubs.Producer;
using Microsoft.Extensions.Logging.Abstractions;
using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Processing;

/// <summary>
/// Per-tenant replay cursors on the blob log (Azurite): tenants A and B share a partition; A is
/// replayed from a position or a time, through the dispatcher and the same drain engine.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed partial class TenantReplayTests(AzuriteFixture azurite)
{
    private const string A = "tenant-a";
    private const string B = "tenant-b";

    [Fact]
    public async Task Replaying_a_tenant_redelivers_only_its_events_up_to_the_live_checkpoint_and_leaves_the_checkpoint_alone()
    {
        await using var world = await World.CreateAsync(azurite.ConnectionString);
        await world.AppendAsync(0, 30, n => n % 2 == 0 ? A : B); // A: even spans, B: odd spans
        Assert.Equal(DrainEnd.Idle, (await world.Services.Engine.DrainAsync(0)).End);
        await world.AppendAsync(30, 4, n => n % 2 == 0 ? A : B); // after the live checkpoint: not part of the replay
        var live = await world.LiveCheckpointAsync();
        var events = await world.Context.ReadAllAsync(0);

        var cursor = await world.Replay.StartAsync(A, 0, from: null, position: events[10].Position.Value, by: "test");

        Assert.Equal(events[10].Position.Value, cursor.Start);
        Assert.Equal(live.Position, cursor.End);
        Assert.Equal(ReplayCursor.Active, cursor.State);
        var dispatcher = world.Services.CreateDispatcher(world.Jobs);
        Assert.Equal([(A, 0)], (await dispatcher.DispatchReplayCursorsAsync()).Select(c => (c.Tenant, c.Partition)));
        Assert.True(world.Jobs.Reader.TryRead(out var job));
        Assert.Equal(A, job.Tenant);
        Assert.Empty(await dispatcher.DispatchReplayCursorsAsync()); // one pending job per cursor
        await world.Jobs.StartedAsync(job);

        var result = await world.Replay.DrainAsync(job, keepAlive: false);

        Assert.NotNull(result);
        Assert.Equal(DrainEnd.ReachedEnd, result.End);
        var evens = Enumerable.Range(0, 15).Select(i => 2 * i).ToList();
        Assert.Equal(evens.Concat(evens.Where(n => n >= 10)), world.Delivered(A));
        Assert.Equal(Enumerable.Range(0, 15).Select(i => (2 * i) + 1), world.Delivered(B));
        var after = await world.LiveCheckpointAsync();
        Assert.Equal(live.Position, after.Position);
        Assert.Equal(live.ETag, after.ETag);
        var done = await world.Services.Checkpoints.ReadCursorAsync(world.Services.Log.Name, A, 0);
        Assert.NotNull(done);
        Assert.True(done.IsDone);
        Assert.Equal(live.Position, done.Position);
        Assert.Empty(await dispatcher.DispatchReplayCursorsAsync());
        var status = Assert.Single(await dispatcher.GetReplayCursorsAsync());
        Assert.Equal((A, ReplayCursor.Done, 0L), (status.Cursor.Tenant, status.Cursor.State, status.Lag));

        // The live drain then delivers what came after, once.
        await world.Services.Engine.DrainAsync(0);
        Assert.Equal(evens.Concat(evens.Where(n => n >= 10)).Concat([30, 32]), world.Delivered(A));
        Assert.Equal(Enumerable.Range(0, 17).Select(i => (2 * i) + 1), world.Delivered(B));
    }

    [Fact]
    public async Task Replay_from_a_time_starts_at_the_first_event_received_at_or_after_it()
    {
        await using var world = await World.CreateAsync(azurite.ConnectionString);
        var t0 = DateTimeOffset.UtcNow.AddHours(-1);
        await world.AppendAsync(0, 12, n => n % 3 == 0 ? A : B, n => t0.AddMinutes(n));
        await world.Services.Engine.DrainAsync(0);
        var events = await world.Context.ReadAllAsync(0);

        var cursor = await world.Replay.StartAsync(A, 0, from: t0.AddMinutes(5).AddSeconds(30), position: null, by: "test");

        Assert.Equal(events[6].Position.Value, cursor.Start); // span 6 is the first received after 5.5 min
        var result = await world.Replay.DrainAsync(new DrainJob(0, "replay", Tenant: A), keepAlive: false);
        Assert.Equal(DrainEnd.ReachedEnd, result!.End);
        Assert.Equal([0, 3, 6, 9, 6, 9], world.Delivered(A));
        Assert.Equal(8, world.Delivered(B).Count);
    }

    [Fact]
    public async Task A_replay_beside_the_running_live_drain_does_not_move_the_live_checkpoint()
    {
        await using var world = await World.CreateAsync(azurite.ConnectionString);
        await world.AppendAsync(0, 20, n => n % 2 == 0 ? A : B);
        await world.Services.Engine.DrainAsync(0);
        var live = await world.LiveCheckpointAsync();
        await world.Replay.StartAsync(A, 0, from: null, position: Checkpoint.StartOfLog, by: "test");
        await world.AppendAsync(20, 20, n => n % 2 == 0 ? A : B);

        // Both drains at once, on the same partition, in one process.
        var liveDrain = world.Services.Engine.DrainAsync(0);
        var replayDrain = world.Replay.DrainAsync(new DrainJob(0, "replay", Tenant: A), keepAlive: false);
        await Task.WhenAll(liveDrain, (Task)replayDrain);

        Assert.Equal(DrainEnd.Idle, (await liveDrain).End);
        Assert.Equal(DrainEnd.ReachedEnd, (await replayDrain)!.End);
        Assert.Equal((await world.Context.Log.GetEndAsync(0)).Value, (await world.LiveCheckpointAsync()).Position);
        Assert.Equal(live.Position, (await world.Services.Checkpoints.ReadCursorAsync(world.Services.Log.Name, A, 0))!.Position);
        var evens = Enumerable.Range(0, 20).Select(i => 2 * i).ToList();
        Assert.Equal(evens.Concat(evens.Where(n => n < 20)).Order(), world.Delivered(A).Order());
        Assert.Equal(Enumerable.Range(0, 20).Select(i => (2 * i) + 1), world.Delivered(B));
    }

    [Fact]
    public async Task Replay_refuses_an_unknown_or_invalid_tenant_before_writing_anything()
    {
        await using var world = await World.CreateAsync(azurite.ConnectionString);

        await Assert.ThrowsAsync<ArgumentException>(() => world.Replay.StartAsync("nobody", 0, null, 0, "test"));
        await Assert.ThrowsAsync<ArgumentException>(() => world.Replay.StartAsync("a/b", 0, null, 0, "test"));
        Assert.Empty(await world.Services.Checkpoints.ListCursorsAsync(world.Services.Log.Name));
    }

    [Fact]
    public async Task The_tenant_filter_passes_the_pipelines_deferrals_through_so_the_drain_flushes_them()
    {
        var inner = new DeferringProbe();
        var filter = new TenantOnlyProcessor(A, inner);
        var ofA = new ReadEvent(new LogPosition(7), new LogPosition(8), new EventProperties(A, Signal.Traces, BodyCodec.Protobuf, 1, DateTimeOffset.UtcNow, "g"), DrainTestContext.SpanBody(1));
        var ofB = ofA with { Properties = ofA.Properties! with { Tenant = B } };

        Assert.Equal(EventFate.Delivered, await filter.ProcessAsync(0, ofB));
        Assert.Equal(0, inner.Processed);
        Assert.Equal(EventFate.Delivered, await filter.ProcessAsync(0, ofA));
        Assert.Equal((1, 1L), (inner.Processed, filter.Redelivered));
        Assert.Equal(new LogPosition(7), filter.Hooks.Deferral!.PendingFloor(0));
        Assert.True(filter.Hooks.Deferral!.HasPending(0));
        Assert.Equal(new FlushOutcome(0, false), await filter.Hooks.Deferral!.FlushDueAsync(0, DateTimeOffset.UtcNow, endOfLog: true));
        Assert.False(filter.Hooks.Deferral!.HasPending(0));
    }

    [GeneratedRegex("\"name\":\\s*\"span-(\\d+)\"")]
    private static partial Regex SpanName();

    /// <summary>A pipeline that defers every event it gets until the next flush, like tail sampling.</summary>
    private sealed class DeferringProbe : IEventProcessor, IEventDeferral
    {
        private LogPosition? _floor;

        public PartitionHooks Hooks => new() { Deferral = this };

        public int Processed { get; private set; }

        public Task<EventFate> ProcessAsync(int partition, ReadEvent logEvent, CancellationToken cancellationToken = default)
        {
            Processed++;
            _floor ??= logEvent.Position;
            return Task.FromResult(EventFate.Delivered);
        }

        public void Reset(int partition, DeferralLimits? limits) => _floor = null;

        public LogPosition? PendingFloor(int partition) => _floor;

        public bool HasPending(int partition) => _floor != null;

        public Task<FlushOutcome> FlushDueAsync(int partition, DateTimeOffset now, bool endOfLog, CancellationToken cancellationToken = default)
        {
            _floor = null;
            return Task.FromResult(new FlushOutcome(0, false));
        }
    }

    [Fact]
    public async Task On_Event_Hubs_a_cursor_reads_in_the_replay_consumer_group_beside_the_live_one()
    {
        // A producer that never connects: only the reader's consumer group is looked at here
        // (EventHubsLogTests proves its receivers are non-exclusive and in that group).
        await using var log = new EventHubsLog(
            new EventHubProducerClient("Endpoint=sb://replay-test.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=v", "otlp"),
            "functions",
            "replay",
            (_, _, _, _) => throw new InvalidOperationException("no receiver is opened"));
        var services = await ProcessingServices.CreateAsync(
            log,
            azurite.IsolatedStorage(),
            new InMemoryTenantDirectory(new TenantFile()),
            DrainTestContext.Options("runner-" + Guid.NewGuid().ToString("N")[..6]),
            NullLoggerFactory.Instance,
            ServerlessOtlp.Tests.Export.TestEgress.Local);

        await using var reader = new TenantReplay(services).Reader();

        var cursorLog = Assert.IsType<EventHubsLog>(reader);
        Assert.NotSame(log, cursorLog);
        Assert.Equal("replay", cursorLog.ConsumerGroup);
        Assert.Equal("functions", log.ConsumerGroup);
        Assert.Equal(log.Name, cursorLog.Name);
    }

    /// <summary>The processing services over a blob log of the test's own, with tenants A and B writing to their own directories.</summary>
    private sealed class World : IAsyncDisposable
    {
        private readonly Dictionary<string, string> _dirs;

        private World(DrainTestContext context, ProcessingServices services, Dictionary<string, string> dirs)
        {
            Context = context;
            Services = services;
            _dirs = dirs;
            Replay = new TenantReplay(services);
        }

        public DrainTestContext Context { get; }

        public ProcessingServices Services { get; }

        public TenantReplay Replay { get; }

        public InProcessDrainJobs Jobs { get; } = new();

        public static async Task<World> CreateAsync(string connectionString)
        {
            var context = await DrainTestContext.CreateAsync(connectionString);
            var dirs = new[] { A, B }.ToDictionary(t => t, t => Directory.CreateTempSubdirectory("replay-" + t + "-").FullName);
            var tenants = new InMemoryTenantDirectory(new TenantFile
            {
                Tenants = dirs.Select(d => new TenantConfig
                {
                    Id = d.Key,
                    Destinations = [new DestinationConfig { Name = "out", Kind = FileDestination.KindName, Signals = [Signal.Traces], Settings = new FileSettings { Path = d.Value } }],
                }).ToList(),
            });
            var log = context.NewLog();
            await log.OpenAsync();
            var services = await ProcessingServices.CreateAsync(
                log,
                new StorageClients(new StorageOptions { ConnectionString = connectionString, Names = AzuriteFixture.UniqueNames() }),
                tenants,
                DrainTestContext.Options("runner-" + Guid.NewGuid().ToString("N")[..6]),
                NullLoggerFactory.Instance,
            ServerlessOtlp.Tests.Export.TestEgress.Local);
            return new World(context, services, dirs);
        }

        public Task<Checkpoint> LiveCheckpointAsync() =>
            Services.Checkpoints.ReadAsync(Services.Log.Name, Services.Drain.ConsumerGroup, 0);

        public async Task AppendAsync(int first, int count, Func<int, string> tenantOf, Func<int, DateTimeOffset>? receivedAt = null)
        {
            var events = Enumerable.Range(first, count)
                .Select(n => new LogEvent(
                    new EventProperties(tenantOf(n), Signal.Traces, BodyCodec.Protobuf, 1, receivedAt?.Invoke(n) ?? DateTimeOffset.UtcNow, "test-gateway"),
                    DrainTestContext.SpanBody(n)))
                .ToList();
            await Context.Log.AppendAsync(0, events);
        }

        /// <summary>The span numbers a tenant's file destination received, in order, with repeats.</summary>
        public List<int> Delivered(string tenant)
        {
            string file = Path.Combine(_dirs[tenant], "traces.jsonl");
            return File.Exists(file)
                ? SpanName().Matches(File.ReadAllText(file)).Select(m => int.Parse(m.Groups[1].Value)).ToList()
                : [];
        }

        public ValueTask DisposeAsync()
        {
            Context.Dispose();
            foreach (string dir in _dirs.Values)
            {
                try
                {
                    Directory.Delete(dir, recursive: true);
                }
                catch (IOException)
                {
                }
            }

            return ValueTask.CompletedTask;
        }
    }
}
