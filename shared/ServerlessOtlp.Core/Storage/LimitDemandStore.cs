using System.Text.Json;
using Azure.Data.Tables;

namespace ServerlessOtlp.Storage;

/// <summary>
/// What each gateway replica is asked for by tenants with limits, so that they can share each limit
/// by demand: one row per replica in the nodes table (PartitionKey <c>limits</c>, RowKey the node id),
/// column <c>Demand</c> a JSON map tenant → [items/s, bytes/s]. One write and one partition read per
/// replica and sync, whatever the number of tenants.
/// </summary>
public class LimitDemandStore
{
    public const string Partition = "limits";
    private const string DemandColumn = "Demand";

    /// <summary>Tenants per row: a Table string property holds 64 KiB (32K UTF-16 characters); ~60 characters each.</summary>
    public const int MaxTenantsPerRow = 400;

    private readonly TableClient _table = null!;

    public LimitDemandStore(TableServiceClient service, string tableName = StorageNames.DefaultNodes)
        : this(service.GetTableClient(tableName))
    {
    }

    public LimitDemandStore(TableClient table) => _table = table;

    /// <summary>For mocking.</summary>
    protected LimitDemandStore()
    {
    }

    /// <summary>Writes this replica's demand (the <see cref="MaxTenantsPerRow"/> largest by items).</summary>
    public virtual async Task WriteAsync(string nodeId, IReadOnlyDictionary<string, (double Items, double Bytes)> demand, CancellationToken cancellationToken = default)
    {
        TableKeys.ValidateKeyPart(nodeId, nameof(nodeId));
        var top = demand.OrderByDescending(d => d.Value.Items).ThenByDescending(d => d.Value.Bytes).Take(MaxTenantsPerRow)
            .ToDictionary(d => d.Key, d => new[] { Math.Round(d.Value.Items, 1), Math.Round(d.Value.Bytes) }, StringComparer.Ordinal);
        var row = new TableEntity(Partition, nodeId) { [DemandColumn] = JsonSerializer.Serialize(top, CoreJsonContext.Default.DictionaryStringDoubleArray) };
        await _table.UpsertEntityAsync(row, TableUpdateMode.Replace, cancellationToken);
    }

    /// <summary>Every replica's demand written within <paramref name="freshWithin"/> (by the service's clock).</summary>
    public virtual async Task<IReadOnlyList<(string Node, IReadOnlyDictionary<string, double[]> Demand)>> ReadAsync(TimeSpan freshWithin, CancellationToken cancellationToken = default)
    {
        var result = new List<(string, IReadOnlyDictionary<string, double[]>)>();
        await foreach (var page in _table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {Partition}"), cancellationToken: cancellationToken).AsPages())
        {
            var now = ServiceClock.Now(page.GetRawResponse());
            foreach (var row in page.Values)
            {
                if (row.Timestamp is not { } written || now - written > freshWithin)
                {
                    continue;
                }

                Dictionary<string, double[]>? demand = null;
                try
                {
                    demand = row.GetString(DemandColumn) is { } json ? JsonSerializer.Deserialize(json, CoreJsonContext.Default.DictionaryStringDoubleArray) : null;
                }
                catch (JsonException)
                {
                    // A row we cannot read counts as a replica without demand.
                }

                result.Add((row.RowKey, demand ?? new Dictionary<string, double[]>()));
            }
        }

        return result;
    }
}
