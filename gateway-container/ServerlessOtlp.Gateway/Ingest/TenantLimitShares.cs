using System.Collections.Concurrent;
using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Gateway.Ingest;

/// <summary>
/// Makes a tenant's limits hold for the whole deployment rather than per replica. Every
/// <see cref="GatewayOptions.LimitSyncInterval"/> each replica writes what each tenant with limits asked
/// of it (items/s and bytes/s, refused requests included) and reads every live replica's figures; its
/// share of a tenant's limit is then its demand's share, plus a floor (a quarter of the even split)
/// so that a replica whose clients just arrived is not starved until the next sync:
/// <c>share_i = (d_i + D/4N) / (D + D/4)</c>, equal shares when no replica saw the tenant.
/// Dividing by the replica count instead would give a tenant with one long-lived gRPC connection
/// only limit ÷ replicas.
/// <para>The error accepted: shares follow demand one sync behind. When a tenant's traffic moves
/// between replicas, the deployment-wide rate can exceed the limit for about one interval (the old
/// replica keeps its share until it syncs) or fall short of it (the new one starts at the floor); a
/// replica that cannot reach the nodes table keeps its last shares.</para>
/// </summary>
internal sealed class TenantLimitShares
{
    private readonly LimitDemandStore? _store;
    private readonly string _nodeId;
    private readonly TimeProvider _time;
    private readonly TimeSpan _interval;
    private readonly ConcurrentDictionary<string, Demand> _demand = new(StringComparer.Ordinal);
    private volatile Snapshot _snapshot = new(new Dictionary<string, double>(StringComparer.Ordinal), 1);
    private long _windowStart;
    private Dictionary<string, (double Items, double Bytes)> _published = new(StringComparer.Ordinal);

    public TenantLimitShares(LimitDemandStore? store, string nodeId, TimeProvider time, TimeSpan interval)
    {
        _store = store;
        _nodeId = nodeId;
        _time = time;
        _interval = interval;
        _windowStart = time.GetTimestamp();
    }

    /// <summary>Live replicas at the last sync (1 before the first, or without a store).</summary>
    public int Replicas => _snapshot.Replicas;

    /// <summary>Counts a request of a tenant with limits (whether admitted or not: demand, not throughput).</summary>
    public void Record(string tenant, int items, long bytes)
    {
        var demand = _demand.GetOrAdd(tenant, static _ => new Demand());
        Interlocked.Add(ref demand.Items, Math.Max(1, items));
        Interlocked.Add(ref demand.Bytes, bytes);
    }

    /// <summary>This replica's fraction of the tenant's limits.</summary>
    public double Fraction(string tenant)
    {
        var snapshot = _snapshot;
        return snapshot.Fractions.TryGetValue(tenant, out double f) ? f : 1.0 / snapshot.Replicas;
    }

    /// <summary>Publishes this replica's demand, then recomputes the shares; called every interval by the gateway.</summary>
    public async Task SyncAsync(CancellationToken cancellationToken)
    {
        await PublishAsync(cancellationToken);
        await RecomputeAsync(cancellationToken);
    }

    /// <summary>Turns the requests counted since the last call into rates and writes them.</summary>
    public async Task PublishAsync(CancellationToken cancellationToken)
    {
        long now = _time.GetTimestamp();
        double seconds = Math.Max(1e-3, (now - Interlocked.Exchange(ref _windowStart, now)) / (double)_time.TimestampFrequency);
        var mine = new Dictionary<string, (double Items, double Bytes)>(StringComparer.Ordinal);
        foreach (var (tenant, demand) in _demand)
        {
            long items = Interlocked.Exchange(ref demand.Items, 0), bytes = Interlocked.Exchange(ref demand.Bytes, 0);
            if (items == 0 && bytes == 0)
            {
                _demand.TryRemove(new KeyValuePair<string, Demand>(tenant, demand));
                continue;
            }

            mine[tenant] = (items / seconds, bytes / seconds);
        }

        _published = mine;
        if (_store != null)
        {
            await _store.WriteAsync(_nodeId, mine, cancellationToken);
        }
    }

    /// <summary>Reads every live replica's demand and sets this replica's shares from it.</summary>
    public async Task RecomputeAsync(CancellationToken cancellationToken)
    {
        if (_store == null)
        {
            return; // one replica (tests, otlpctl dev without storage): the whole limit
        }

        var mine = _published;
        var all = await _store.ReadAsync(3 * _interval, cancellationToken);
        var others = all.Where(r => r.Node != _nodeId).ToList();
        int replicas = others.Count + 1;

        // Every tenant any replica saw: one that only others saw gets this replica's floor, not an even split.
        var tenants = new HashSet<string>(mine.Keys, StringComparer.Ordinal);
        foreach (var (_, demand) in others)
        {
            tenants.UnionWith(demand.Keys);
        }

        var fractions = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (string tenant in tenants)
        {
            double own = mine.TryGetValue(tenant, out var m) ? m.Items : 0, total = own;
            foreach (var (_, demand) in others)
            {
                total += demand.TryGetValue(tenant, out var d) && d.Length > 0 ? d[0] : 0;
            }

            fractions[tenant] = total <= 0 ? 1.0 / replicas : (own + (total / (4.0 * replicas))) / (total + (total / 4));
        }

        _snapshot = new Snapshot(fractions, replicas);
    }

    private sealed class Demand
    {
        public long Items;
        public long Bytes;
    }

    private sealed record Snapshot(Dictionary<string, double> Fractions, int Replicas);
}
