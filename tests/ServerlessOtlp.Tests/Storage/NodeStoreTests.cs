using ServerlessOtlp.Performance;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Storage;

[Collection(AzuriteCollection.Name)]
public sealed class NodeStoreTests
{
    private readonly AzuriteFixture _fixture;

    public NodeStoreTests(AzuriteFixture fixture)
    {
        _fixture = fixture;
    }

    private async Task<NodeStore> NewStoreAsync()
    {
        var store = new NodeStore(TableTestContext.Service(_fixture.ConnectionString), TableTestContext.UniqueTableName());
        await store.EnsureCreatedAsync();
        return store;
    }

    private static NodeHeartbeat Beat(string role, string id, long spans = 0) =>
        new(role, id, "1.2.3", "host-" + id, new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero), NodeStatus.Alive,
            new Dictionary<string, long> { ["spans"] = spans, ["batches"] = 2 });

    [Fact]
    public async Task Heartbeats_are_listed_with_service_last_seen_and_counters()
    {
        var store = await NewStoreAsync();
        await store.HeartbeatAsync(Beat(NodeRoles.Gateway, "gw-1", spans: 10));
        await store.HeartbeatAsync(Beat(NodeRoles.Runner, "run-1"));
        await store.HeartbeatAsync(Beat(NodeRoles.Gateway, "gw-1", spans: 42)); // upsert

        var all = await store.ListAsync();
        var gateways = await store.ListAsync(NodeRoles.Gateway);

        Assert.Equal(2, all.Count);
        var gw = Assert.Single(gateways);
        Assert.Equal(("gateway", "gw-1", "1.2.3", "host-gw-1", NodeStatus.Alive), (gw.Role, gw.Id, gw.Version, gw.Host, gw.Status));
        Assert.Equal(new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero), gw.StartedAt);
        Assert.Equal(42, gw.Counters["spans"]);
        Assert.Equal(2, gw.Counters["batches"]);
        Assert.InRange(gw.Age, TimeSpan.Zero, TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Age_grows_by_service_time_without_heartbeats()
    {
        var store = await NewStoreAsync();
        await store.HeartbeatAsync(Beat(NodeRoles.Runner, "run-1"));

        await Task.Delay(TimeSpan.FromSeconds(2.2));
        var node = Assert.Single(await store.ListAsync());

        Assert.True(node.Age >= TimeSpan.FromSeconds(1), $"age {node.Age}");
    }

    [Fact]
    public async Task Mark_is_conditional_and_keeps_the_heartbeat_time()
    {
        var store = await NewStoreAsync();
        await store.HeartbeatAsync(Beat(NodeRoles.Runner, "run-1"));
        var seen = Assert.Single(await store.ListAsync());

        Assert.True(await store.MarkAsync(NodeRoles.Runner, "run-1", NodeStatus.Suspect, seen.ETag));
        Assert.False(await store.MarkAsync(NodeRoles.Runner, "run-1", NodeStatus.Dead, seen.ETag)); // stale ETag

        var suspect = Assert.Single(await store.ListAsync());
        Assert.Equal(NodeStatus.Suspect, suspect.Status);
        Assert.Equal(seen.LastSeen, suspect.LastSeen); // marking is not a sign of life
        Assert.True(await store.MarkAsync(NodeRoles.Runner, "run-1", NodeStatus.Dead, suspect.ETag));
        Assert.Equal(seen.LastSeen, Assert.Single(await store.ListAsync()).LastSeen);

        // A node judged dead that heartbeats again is alive, and its mark can no longer land.
        var dead = Assert.Single(await store.ListAsync());
        await store.HeartbeatAsync(Beat(NodeRoles.Runner, "run-1"));
        Assert.False(await store.MarkAsync(NodeRoles.Runner, "run-1", NodeStatus.Dead, dead.ETag));
        var back = Assert.Single(await store.ListAsync());
        Assert.Equal(NodeStatus.Alive, back.Status);
        Assert.True(back.LastSeen >= seen.LastSeen);
    }

    [Fact]
    public async Task Performance_snapshots_round_trip_a_full_hour_per_component_and_survive_a_mark()
    {
        var store = await NewStoreAsync();

        // The largest a snapshot gets: every window of the hour busy, every latency bucket used, large counts.
        var full = new ComponentSnapshot(
            ComponentRecorder.WindowOf(DateTimeOffset.UtcNow),
            [.. Enumerable.Range(0, ComponentRecorder.Windows).Select(i => 9_000_000_000L + i)],
            9_000_000_000,
            12,
            [.. Enumerable.Range(0, LatencyScale.Buckets).Select(i => 1_000_000_000L + i)]);
        var performance = PerformanceComponents.All.ToDictionary(c => c, _ => full);
        await store.HeartbeatAsync(Beat(NodeRoles.Runner, "run-1") with { Performance = performance });

        var node = Assert.Single(await store.ListAsync());
        Assert.Equal(PerformanceComponents.All.Order(), node.Performance.Keys.Order());
        var drain = node.Performance[PerformanceComponents.Drain];
        Assert.Equal((full.Window, full.Operations, full.Errors), (drain.Window, drain.Operations, drain.Errors));
        Assert.Equal(full.Items, drain.Items);
        Assert.Equal(full.Latency, drain.Latency);

        Assert.True(await store.MarkAsync(NodeRoles.Runner, "run-1", NodeStatus.Suspect, node.ETag));
        Assert.Equal(6, Assert.Single(await store.ListAsync()).Performance.Count);

        // A heartbeat without figures (an idle node) clears them: the row is replaced.
        await store.HeartbeatAsync(Beat(NodeRoles.Runner, "run-1"));
        Assert.Empty(Assert.Single(await store.ListAsync()).Performance);
    }

    [Fact]
    public async Task Remove_deletes_the_row_and_tolerates_a_missing_one()
    {
        var store = await NewStoreAsync();
        await store.HeartbeatAsync(Beat(NodeRoles.Functions, "fn-1"));
        var node = Assert.Single(await store.ListAsync());

        Assert.True(await store.RemoveAsync(NodeRoles.Functions, "fn-1", node.ETag));
        Assert.False(await store.RemoveAsync(NodeRoles.Functions, "fn-1"));
        Assert.Empty(await store.ListAsync());
    }
}
