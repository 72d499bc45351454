using System.Collections.Concurrent;
using System.Text.Json;
using Azure;
using Azure.Data.Tables;

namespace ServerlessOtlp.Storage;

/// <summary>
/// An OpAMP agent as stored: keyed by (tenant, instance UID) — UIDs are not secrets, so another tenant's
/// agent with the same UID is another agent. Everything an agent reports is bounded before it is kept
/// (the gateway's <c>OpAmpLimits</c>); effective configs are kept as a hash, never as text.
/// </summary>
public sealed record AgentRecord
{
    public required string Tenant { get; init; }

    /// <summary>The 16-byte instance UID as 32 lower-case hex digits.</summary>
    public required string InstanceUid { get; init; }

    public IReadOnlyDictionary<string, string> IdentifyingAttributes { get; init; } = Empty;

    public IReadOnlyDictionary<string, string> NonIdentifyingAttributes { get; init; } = Empty;

    /// <summary>The agent's <c>AgentCapabilities</c> bits.</summary>
    public long Capabilities { get; init; }

    /// <summary>Null until the agent reports health.</summary>
    public bool? Healthy { get; init; }

    public string? HealthStatus { get; init; }

    public string? HealthLastError { get; init; }

    /// <summary>SHA-256 (hex) of the agent's reported health message, components included: what changes trigger a write.</summary>
    public string? HealthHash { get; init; }

    /// <summary>SHA-256 (hex) of the effective config the agent reported.</summary>
    public string? EffectiveConfigHash { get; init; }

    /// <summary>Name and hash (hex) of the remote config last offered to the agent.</summary>
    public string? OfferedConfigName { get; init; }

    public string? OfferedConfigHash { get; init; }

    /// <summary>What the agent last reported: the hash it applied or failed, UNSET|APPLIED|APPLYING|FAILED, the message.</summary>
    public string? RemoteConfigHash { get; init; }

    public string RemoteConfigStatus { get; init; } = "UNSET";

    public string? RemoteConfigError { get; init; }

    public DateTimeOffset FirstSeen { get; init; }

    public DateTimeOffset LastSeen { get; init; }

    /// <summary>The agent sent <c>agent_disconnect</c>: it is dead until it polls again.</summary>
    public bool Disconnected { get; init; }

    public ETag ETag { get; init; }

    private static readonly IReadOnlyDictionary<string, string> Empty = new Dictionary<string, string>();
}

/// <summary>Where agents are kept: <see cref="AgentStore"/> (Table storage) or <see cref="InMemoryAgentStore"/> (tests, a gateway without storage).</summary>
public interface IAgentStore
{
    Task EnsureCreatedAsync(CancellationToken cancellationToken = default);

    Task<AgentRecord?> GetAsync(string tenant, string instanceUid, CancellationToken cancellationToken = default);

    /// <summary>Writes every column (insert or replace); returns the new ETag.</summary>
    Task<ETag> UpsertAsync(AgentRecord agent, CancellationToken cancellationToken = default);

    /// <summary>Moves only the last-seen time; false when the row is gone (removed meanwhile).</summary>
    Task<bool> TouchAsync(string tenant, string instanceUid, DateTimeOffset lastSeen, CancellationToken cancellationToken = default);

    /// <summary>Agents of a tenant (all tenants when null), and the store's "now" for judging them.</summary>
    Task<(IReadOnlyList<AgentRecord> Agents, DateTimeOffset Now)> ListAsync(string? tenant = null, CancellationToken cancellationToken = default);

    /// <summary>Agents with this UID, in any tenant.</summary>
    Task<IReadOnlyList<AgentRecord>> FindAsync(string instanceUid, CancellationToken cancellationToken = default);

    Task<int> CountAsync(string tenant, CancellationToken cancellationToken = default);

    /// <summary>Agents last seen at or before <paramref name="cutoff"/>, for the removal sweep.</summary>
    Task<IReadOnlyList<AgentRecord>> ListSeenBeforeAsync(DateTimeOffset cutoff, CancellationToken cancellationToken = default);

    /// <summary>Deletes the row if still at <paramref name="etag"/> (an agent that polled meanwhile stays).</summary>
    Task<bool> DeleteAsync(string tenant, string instanceUid, ETag etag, CancellationToken cancellationToken = default);
}

/// <summary>
/// The <c>agents</c> table: PartitionKey = tenant id, RowKey = instance UID (hex). Attribute maps are JSON
/// columns (bounded by the gateway far below the 64 KiB a property may hold).
/// </summary>
public sealed class AgentStore(TableClient table) : IAgentStore
{
    private const string Identifying = "IdentifyingAttributes";
    private const string NonIdentifying = "NonIdentifyingAttributes";

    public AgentStore(TableServiceClient service, string tableName = StorageNames.DefaultAgents)
        : this(service.GetTableClient(tableName))
    {
    }

    public string TableName => table.Name;

    public async Task EnsureCreatedAsync(CancellationToken cancellationToken = default) =>
        await table.CreateIfNotExistsAsync(cancellationToken);

    public async Task<AgentRecord?> GetAsync(string tenant, string instanceUid, CancellationToken cancellationToken = default)
    {
        var row = await table.GetEntityIfExistsAsync<TableEntity>(tenant, instanceUid, cancellationToken: cancellationToken);
        return row.HasValue ? FromRow(row.Value!) : null;
    }

    public async Task<ETag> UpsertAsync(AgentRecord agent, CancellationToken cancellationToken = default)
    {
        TableKeys.ValidateKeyPart(agent.Tenant, nameof(agent.Tenant));
        var written = await table.UpsertEntityAsync(ToRow(agent), TableUpdateMode.Replace, cancellationToken);
        return written.Headers.ETag.GetValueOrDefault();
    }

    public async Task<bool> TouchAsync(string tenant, string instanceUid, DateTimeOffset lastSeen, CancellationToken cancellationToken = default)
    {
        try
        {
            await table.UpdateEntityAsync(new TableEntity(tenant, instanceUid) { ["LastSeen"] = lastSeen }, ETag.All, TableUpdateMode.Merge, cancellationToken);
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status == TableKeys.NotFound)
        {
            return false;
        }
    }

    public async Task<(IReadOnlyList<AgentRecord> Agents, DateTimeOffset Now)> ListAsync(string? tenant = null, CancellationToken cancellationToken = default)
    {
        string? filter = tenant is null ? null : TableClient.CreateQueryFilter($"PartitionKey eq {tenant}");
        var result = new List<AgentRecord>();
        var now = DateTimeOffset.UtcNow;
        bool first = true;
        await foreach (var page in table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken).AsPages())
        {
            if (first)
            {
                now = ServiceClock.Now(page.GetRawResponse());
                first = false;
            }

            foreach (var row in page.Values)
            {
                result.Add(FromRow(row));
            }
        }

        return (result, now);
    }

    public async Task<IReadOnlyList<AgentRecord>> FindAsync(string instanceUid, CancellationToken cancellationToken = default)
    {
        var result = new List<AgentRecord>();
        await foreach (var row in table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"RowKey eq {instanceUid}"), cancellationToken: cancellationToken))
        {
            result.Add(FromRow(row));
        }

        return result;
    }

    public async Task<int> CountAsync(string tenant, CancellationToken cancellationToken = default)
    {
        int count = 0;
        await foreach (var _ in table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {tenant}"), select: ["RowKey"], cancellationToken: cancellationToken))
        {
            count++;
        }

        return count;
    }

    public async Task<IReadOnlyList<AgentRecord>> ListSeenBeforeAsync(DateTimeOffset cutoff, CancellationToken cancellationToken = default)
    {
        var result = new List<AgentRecord>();
        // Filtered by the service; only the keys come back (the ETag with them), whatever the table's size.
        await foreach (var row in table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"LastSeen le {cutoff}"), select: ["PartitionKey", "RowKey", "LastSeen"], cancellationToken: cancellationToken))
        {
            result.Add(FromRow(row));
        }

        return result;
    }

    public async Task<bool> DeleteAsync(string tenant, string instanceUid, ETag etag, CancellationToken cancellationToken = default)
    {
        try
        {
            var deleted = await table.DeleteEntityAsync(tenant, instanceUid, etag, cancellationToken);
            return deleted.Status != TableKeys.NotFound;
        }
        catch (RequestFailedException ex) when (ex.Status is TableKeys.PreconditionFailed or TableKeys.NotFound)
        {
            return false;
        }
    }

    private static TableEntity ToRow(AgentRecord a)
    {
        var row = new TableEntity(a.Tenant, a.InstanceUid)
        {
            [Identifying] = Serialize(a.IdentifyingAttributes),
            [NonIdentifying] = Serialize(a.NonIdentifyingAttributes),
            ["Capabilities"] = a.Capabilities,
            ["RemoteConfigStatus"] = a.RemoteConfigStatus,
            ["FirstSeen"] = a.FirstSeen,
            ["LastSeen"] = a.LastSeen,
            ["Disconnected"] = a.Disconnected,
        };

        // Absent values are left out (a replace removes what an earlier write had).
        void Optional(string column, object? value)
        {
            if (value is not null)
            {
                row[column] = value;
            }
        }

        Optional("Healthy", a.Healthy);
        Optional("HealthStatus", a.HealthStatus);
        Optional("HealthLastError", a.HealthLastError);
        Optional("HealthHash", a.HealthHash);
        Optional("EffectiveConfigHash", a.EffectiveConfigHash);
        Optional("OfferedConfigName", a.OfferedConfigName);
        Optional("OfferedConfigHash", a.OfferedConfigHash);
        Optional("RemoteConfigHash", a.RemoteConfigHash);
        Optional("RemoteConfigError", a.RemoteConfigError);
        return row;
    }

    private static AgentRecord FromRow(TableEntity row) => new()
    {
        Tenant = row.PartitionKey,
        InstanceUid = row.RowKey,
        IdentifyingAttributes = Deserialize(row.GetString(Identifying)),
        NonIdentifyingAttributes = Deserialize(row.GetString(NonIdentifying)),
        Capabilities = row.GetInt64("Capabilities") ?? 0,
        Healthy = row.GetBoolean("Healthy"),
        HealthStatus = row.GetString("HealthStatus"),
        HealthLastError = row.GetString("HealthLastError"),
        HealthHash = row.GetString("HealthHash"),
        EffectiveConfigHash = row.GetString("EffectiveConfigHash"),
        OfferedConfigName = row.GetString("OfferedConfigName"),
        OfferedConfigHash = row.GetString("OfferedConfigHash"),
        RemoteConfigHash = row.GetString("RemoteConfigHash"),
        RemoteConfigStatus = row.GetString("RemoteConfigStatus") ?? "UNSET",
        RemoteConfigError = row.GetString("RemoteConfigError"),
        FirstSeen = row.GetDateTimeOffset("FirstSeen") ?? row.Timestamp ?? default,
        LastSeen = row.GetDateTimeOffset("LastSeen") ?? row.Timestamp ?? default,
        Disconnected = row.GetBoolean("Disconnected") ?? false,
        ETag = row.ETag,
    };

    private static string Serialize(IReadOnlyDictionary<string, string> map) =>
        JsonSerializer.Serialize(map as Dictionary<string, string> ?? new Dictionary<string, string>(map), CoreJsonContext.Default.DictionaryStringString);

    private static Dictionary<string, string> Deserialize(string? json)
    {
        if (string.IsNullOrEmpty(json))
        {
            return [];
        }

        try
        {
            return JsonSerializer.Deserialize(json, CoreJsonContext.Default.DictionaryStringString) ?? [];
        }
        catch (JsonException)
        {
            return []; // a damaged row must not break the list
        }
    }
}

/// <summary>Agents in memory: for tests and for a gateway built without an agents table (state is lost on restart).</summary>
public sealed class InMemoryAgentStore(TimeProvider? time = null) : IAgentStore
{
    private readonly ConcurrentDictionary<(string Tenant, string Uid), AgentRecord> _rows = new();
    private long _etag;

    public Task EnsureCreatedAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

    public Task<AgentRecord?> GetAsync(string tenant, string instanceUid, CancellationToken cancellationToken = default) =>
        Task.FromResult(_rows.TryGetValue((tenant, instanceUid), out var row) ? row : null);

    public Task<ETag> UpsertAsync(AgentRecord agent, CancellationToken cancellationToken = default)
    {
        var etag = new ETag(Interlocked.Increment(ref _etag).ToString(System.Globalization.CultureInfo.InvariantCulture));
        _rows[(agent.Tenant, agent.InstanceUid)] = agent with { ETag = etag };
        return Task.FromResult(etag);
    }

    public Task<bool> TouchAsync(string tenant, string instanceUid, DateTimeOffset lastSeen, CancellationToken cancellationToken = default)
    {
        while (_rows.TryGetValue((tenant, instanceUid), out var row))
        {
            var etag = new ETag(Interlocked.Increment(ref _etag).ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (_rows.TryUpdate((tenant, instanceUid), row with { LastSeen = lastSeen, ETag = etag }, row))
            {
                return Task.FromResult(true);
            }
        }

        return Task.FromResult(false);
    }

    public Task<(IReadOnlyList<AgentRecord> Agents, DateTimeOffset Now)> ListAsync(string? tenant = null, CancellationToken cancellationToken = default) =>
        Task.FromResult<(IReadOnlyList<AgentRecord>, DateTimeOffset)>(
            ([.. _rows.Values.Where(r => tenant is null || r.Tenant == tenant)], (time ?? TimeProvider.System).GetUtcNow()));

    public Task<IReadOnlyList<AgentRecord>> FindAsync(string instanceUid, CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyList<AgentRecord>>([.. _rows.Values.Where(r => r.InstanceUid == instanceUid)]);

    public Task<int> CountAsync(string tenant, CancellationToken cancellationToken = default) =>
        Task.FromResult(_rows.Keys.Count(k => k.Tenant == tenant));

    public Task<IReadOnlyList<AgentRecord>> ListSeenBeforeAsync(DateTimeOffset cutoff, CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyList<AgentRecord>>([.. _rows.Values.Where(r => r.LastSeen <= cutoff)]);

    public Task<bool> DeleteAsync(string tenant, string instanceUid, ETag etag, CancellationToken cancellationToken = default) =>
        Task.FromResult(_rows.TryGetValue((tenant, instanceUid), out var row) && row.ETag == etag && _rows.TryRemove(new KeyValuePair<(string, string), AgentRecord>((tenant, instanceUid), row)));
}
