using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using ServerlessOtlp.Performance;

namespace ServerlessOtlp.Storage;

/// <summary>
/// Heartbeats of gateways and drain workers: PartitionKey = role, RowKey = node id. A heartbeat
/// replaces the row, so the row's service <c>Timestamp</c> is the node's last-seen time. A
/// status mark by the failure detector is a write too, so it copies the heartbeat time into a
/// <c>LastSeen</c> column, which the next heartbeat clears again.
/// </summary>
public class NodeStore
{
    private const string VersionColumn = "Version";
    private const string HostColumn = "Host";
    private const string StartedAtColumn = "StartedAt";
    private const string StatusColumn = "Status";
    private const string CountersColumn = "Counters";
    private const string LastSeenColumn = "LastSeen";
    private const string MarkedAtColumn = "MarkedAt";

    // One column per component (a string property holds 64 KiB; an hour of windows is a few KB).
    private const string PerformanceColumnPrefix = "Perf_";

    private static readonly IReadOnlyDictionary<string, long> NoCounters = new Dictionary<string, long>();

    private readonly TableClient _table = null!;

    public NodeStore(TableServiceClient service, string tableName = StorageNames.DefaultNodes)
        : this(service.GetTableClient(tableName))
    {
    }

    public NodeStore(TableClient table)
    {
        _table = table;
    }

    /// <summary>For mocking.</summary>
    protected NodeStore()
    {
    }

    public virtual string TableName => _table.Name;

    public virtual async Task EnsureCreatedAsync(CancellationToken cancellationToken = default) =>
        await _table.CreateIfNotExistsAsync(cancellationToken);

    /// <summary>Records a heartbeat (upsert); returns the row's new ETag.</summary>
    public virtual async Task<ETag> HeartbeatAsync(NodeHeartbeat heartbeat, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(heartbeat);
        TableKeys.ValidateKeyPart(heartbeat.Role, nameof(heartbeat.Role));
        TableKeys.ValidateKeyPart(heartbeat.Id, nameof(heartbeat.Id));
        var row = new TableEntity(heartbeat.Role, heartbeat.Id)
        {
            [VersionColumn] = heartbeat.Version,
            [HostColumn] = heartbeat.Host,
            [StartedAtColumn] = heartbeat.StartedAt,
            [StatusColumn] = heartbeat.Status,
            [CountersColumn] = JsonSerializer.Serialize(heartbeat.Counters ?? NoCounters, CoreJsonContext.Default.DictionaryStringInt64),
        };
        foreach (var (component, snapshot) in heartbeat.Performance ?? NodeInfo.NoPerformance)
        {
            if (PerformanceComponents.All.Contains(component))
            {
                row[PerformanceColumnPrefix + component] = JsonSerializer.Serialize(snapshot, PerformanceJsonContext.Default.ComponentSnapshot);
            }
        }

        var written = await _table.UpsertEntityAsync(row, TableUpdateMode.Replace, cancellationToken);
        return written.Headers.ETag.GetValueOrDefault();
    }

    /// <summary>All nodes (or those of one role), with last-seen and age by the service's clock.</summary>
    public virtual async Task<IReadOnlyList<NodeInfo>> ListAsync(string? role = null, CancellationToken cancellationToken = default)
    {
        // Other partitions of the table hold other things (LimitDemandStore's rows): list node roles only.
        string filter = role is null
            ? TableClient.CreateQueryFilter($"PartitionKey eq {NodeRoles.Gateway} or PartitionKey eq {NodeRoles.Runner} or PartitionKey eq {NodeRoles.Functions}")
            : TableClient.CreateQueryFilter($"PartitionKey eq {role}");
        var result = new List<NodeInfo>();
        await foreach (var page in _table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken).AsPages())
        {
            var serviceNow = ServiceClock.Now(page.GetRawResponse());
            foreach (var row in page.Values)
            {
                result.Add(ToInfo(row, serviceNow));
            }
        }

        return result;
    }

    /// <summary>
    /// Sets a node's status (suspect, dead, …) if the row is still at <paramref name="etag"/>,
    /// i.e. the node has not heartbeated since it was judged. False otherwise.
    /// </summary>
    public virtual async Task<bool> MarkAsync(string role, string id, string status, ETag etag, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(status);
        var row = await _table.GetEntityIfExistsAsync<TableEntity>(role, id, cancellationToken: cancellationToken);
        if (!row.HasValue || row.Value!.ETag != etag)
        {
            return false;
        }

        var mark = new TableEntity(role, id)
        {
            [StatusColumn] = status,
            [LastSeenColumn] = LastSeen(row.Value),
            [MarkedAtColumn] = ServiceClock.Now(row.GetRawResponse()),
        };
        try
        {
            await _table.UpdateEntityAsync(mark, etag, TableUpdateMode.Merge, cancellationToken);
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status is TableKeys.PreconditionFailed or TableKeys.NotFound)
        {
            return false;
        }
    }

    /// <summary>Deletes a node's row (unconditionally unless an ETag is given); a missing row is fine.</summary>
    public virtual async Task<bool> RemoveAsync(string role, string id, ETag etag = default, CancellationToken cancellationToken = default)
    {
        try
        {
            var deleted = await _table.DeleteEntityAsync(role, id, etag == default ? ETag.All : etag, cancellationToken);
            return deleted.Status != TableKeys.NotFound;
        }
        catch (RequestFailedException ex) when (ex.Status is TableKeys.PreconditionFailed or TableKeys.NotFound)
        {
            return false;
        }
    }

    private static DateTimeOffset LastSeen(TableEntity row) =>
        row.GetDateTimeOffset(LastSeenColumn) ?? row.Timestamp ?? DateTimeOffset.MinValue;

    private static NodeInfo ToInfo(TableEntity row, DateTimeOffset serviceNow)
    {
        var lastSeen = LastSeen(row);
        var age = serviceNow - lastSeen;
        return new NodeInfo(
            row.PartitionKey,
            row.RowKey,
            row.GetString(VersionColumn),
            row.GetString(HostColumn),
            row.GetDateTimeOffset(StartedAtColumn),
            row.GetString(StatusColumn) ?? NodeStatus.Alive,
            lastSeen,
            age < TimeSpan.Zero ? TimeSpan.Zero : age, // Date has 1 s resolution, Timestamp finer
            ParseCounters(row.GetString(CountersColumn)),
            row.ETag)
        {
            Performance = ParsePerformance(row),
        };
    }

    private static IReadOnlyDictionary<string, ComponentSnapshot> ParsePerformance(TableEntity row)
    {
        Dictionary<string, ComponentSnapshot>? result = null;
        foreach (var component in PerformanceComponents.All)
        {
            if (row.GetString(PerformanceColumnPrefix + component) is not { Length: > 0 } json)
            {
                continue;
            }

            try
            {
                if (JsonSerializer.Deserialize(json, PerformanceJsonContext.Default.ComponentSnapshot) is { Items: not null, Latency: not null } snapshot)
                {
                    (result ??= new(StringComparer.Ordinal))[component] = snapshot;
                }
            }
            catch (JsonException)
            {
                // a damaged column leaves that component out of the merge
            }
        }

        return result ?? NodeInfo.NoPerformance;
    }

    private static IReadOnlyDictionary<string, long> ParseCounters(string? json)
    {
        if (string.IsNullOrEmpty(json))
        {
            return NoCounters;
        }

        try
        {
            return JsonSerializer.Deserialize(json, CoreJsonContext.Default.DictionaryStringInt64) ?? NoCounters;
        }
        catch (JsonException)
        {
            return NoCounters; // a foreign or damaged row must not break the status view
        }
    }
}
