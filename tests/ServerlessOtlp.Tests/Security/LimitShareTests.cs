using Microsoft.Extensions.Time.Testing;
using ServerlessOtlp.Gateway.Ingest;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Security;

/// <summary>A tenant's limit holds for the deployment: replicas share it by the demand each sees.</summary>
public sealed class LimitShareTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly MemoryDemandStore _store = new();

    [Fact]
    public async Task A_tenant_on_one_long_lived_connection_gets_its_whole_limit_less_the_other_replicas_floor()
    {
        var a = new TenantLimitShares(_store, "gw-a", _time, TimeSpan.FromSeconds(5));
        var b = new TenantLimitShares(_store, "gw-b", _time, TimeSpan.FromSeconds(5));
        await SyncAllAsync(a, b);
        Assert.Equal(0.5, a.Fraction("acme")); // nobody saw it yet: an even split over the live replicas

        // All of acme's traffic arrives at replica a.
        a.Record("acme", 5_000, 500_000);
        await SyncAllAsync(a, b);
        // a: (d + D/8) / (D + D/4) = 0.9; b keeps the floor (1/5N = 0.1): together exactly the limit.
        Assert.Equal(0.9, a.Fraction("acme"), 6);
        Assert.Equal(0.1, b.Fraction("acme"), 6);

        // Dividing by the replica count would have given a 0.5: the single connection would be held to half its limit.
        var limiter = new TenantRateLimiter(_time, a);
        Assert.True(limiter.TryAcquire("acme", 1000, null, 900, 0, out _)); // 90 % of the bucket at once
    }

    [Fact]
    public async Task Shares_follow_the_demand_when_it_moves_and_always_sum_to_the_limit()
    {
        var a = new TenantLimitShares(_store, "gw-a", _time, TimeSpan.FromSeconds(5));
        var b = new TenantLimitShares(_store, "gw-b", _time, TimeSpan.FromSeconds(5));
        var c = new TenantLimitShares(_store, "gw-c", _time, TimeSpan.FromSeconds(5));
        a.Record("t", 300, 0);
        b.Record("t", 100, 0);
        await SyncAllAsync(a, b, c);
        Assert.Equal(1.0, a.Fraction("t") + b.Fraction("t") + c.Fraction("t"), 6);
        Assert.True(a.Fraction("t") > b.Fraction("t") && b.Fraction("t") > c.Fraction("t"));

        // The traffic moves to c.
        c.Record("t", 400, 0);
        await SyncAllAsync(a, b, c);
        Assert.Equal(1.0, a.Fraction("t") + b.Fraction("t") + c.Fraction("t"), 6);
        Assert.True(c.Fraction("t") > 0.7, $"c has {c.Fraction("t")}");
    }

    [Fact]
    public async Task A_replica_that_stopped_writing_no_longer_holds_a_share()
    {
        var a = new TenantLimitShares(_store, "gw-a", _time, TimeSpan.FromSeconds(5));
        var b = new TenantLimitShares(_store, "gw-b", _time, TimeSpan.FromSeconds(5));
        b.Record("t", 100, 0);
        a.Record("t", 100, 0);
        await SyncAllAsync(a, b);
        Assert.Equal(2, a.Replicas);

        // b dies; after three intervals its row no longer counts.
        for (int i = 0; i < 4; i++)
        {
            a.Record("t", 100, 0);
            await SyncAllAsync(a);
        }

        Assert.Equal(1, a.Replicas);
        Assert.Equal(1.0, a.Fraction("t"), 6);
    }

    [Fact]
    public void A_changed_share_keeps_the_debt_a_request_left()
    {
        var shares = new TenantLimitShares(null, "gw", _time, TimeSpan.FromSeconds(5));
        var limiter = new TenantRateLimiter(_time, shares);
        Assert.True(limiter.TryAcquire("t", 100, null, 1000, 0, out _)); // 900 items of debt
        Assert.False(limiter.TryAcquire("t", 100, null, 1, 0, out var wait));
        Assert.Equal(TimeSpan.FromSeconds(9.01), wait);
    }

    /// <summary>One interval: every replica publishes, then every replica recomputes from all rows.</summary>
    private async Task SyncAllAsync(params TenantLimitShares[] replicas)
    {
        _time.Advance(TimeSpan.FromSeconds(5));
        _store.Now = _time.GetUtcNow();
        foreach (var r in replicas)
        {
            await r.PublishAsync(default);
        }

        foreach (var r in replicas)
        {
            await r.RecomputeAsync(default);
        }
    }

    /// <summary>The rows in memory, judged fresh by the fake clock as the service's would be.</summary>
    private sealed class MemoryDemandStore : LimitDemandStore
    {
        private readonly Dictionary<string, (DateTimeOffset At, Dictionary<string, double[]> Demand)> _rows = [];

        public DateTimeOffset Now { get; set; }

        public override Task WriteAsync(string nodeId, IReadOnlyDictionary<string, (double Items, double Bytes)> demand, CancellationToken cancellationToken = default)
        {
            lock (_rows)
            {
                _rows[nodeId] = (Now, demand.ToDictionary(d => d.Key, d => new[] { d.Value.Items, d.Value.Bytes }));
            }

            return Task.CompletedTask;
        }

        public override Task<IReadOnlyList<(string Node, IReadOnlyDictionary<string, double[]> Demand)>> ReadAsync(TimeSpan freshWithin, CancellationToken cancellationToken = default)
        {
            lock (_rows)
            {
                IReadOnlyList<(string, IReadOnlyDictionary<string, double[]>)> fresh = _rows
                    .Where(r => Now - r.Value.At <= freshWithin)
                    .Select(r => (r.Key, (IReadOnlyDictionary<string, double[]>)r.Value.Demand)).ToList();
                return Task.FromResult(fresh);
            }
        }
    }
}

/// <summary>The demand rows through Azurite's table service.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class LimitDemandStoreTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Rows_round_trip_and_node_listings_do_not_see_them()
    {
        var storage = azurite.IsolatedStorage();
        var nodes = new NodeStore(storage.Tables, storage.Names.Nodes);
        await nodes.EnsureCreatedAsync();
        var store = new LimitDemandStore(storage.Tables, storage.Names.Nodes);
        await store.WriteAsync("gw-1", new Dictionary<string, (double, double)> { ["acme"] = (1234.56, 98765) });
        await nodes.HeartbeatAsync(new NodeHeartbeat(NodeRoles.Gateway, "gw-1", "1", "host", DateTimeOffset.UtcNow));

        var read = Assert.Single(await store.ReadAsync(TimeSpan.FromMinutes(1)));
        Assert.Equal("gw-1", read.Node);
        Assert.Equal([1234.6, 98765], read.Demand["acme"]);
        Assert.Single(await nodes.ListAsync()); // the heartbeat only
    }
}
