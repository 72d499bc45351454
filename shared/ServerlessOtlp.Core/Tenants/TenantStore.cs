using Azure;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Tenants;

/// <summary>What <see cref="TenantStore.ApplyAsync"/> did to one tenant.</summary>
public sealed record TenantApplied(string Id, long Version, bool Created, int KeysAdded, int KeysRemoved, bool ConfigInBlob);

public sealed record TenantApplyResult(IReadOnlyList<TenantApplied> Tenants);

/// <summary>A row of <see cref="TenantStore.ListAsync"/>.</summary>
public sealed record TenantSummary(string Id, long Version, int KeyCount, int DestinationCount, DateTimeOffset? UpdatedAt);

/// <summary>
/// Tenants in Table storage (default table <c>tenants</c>). Tenant rows: PartitionKey
/// <c>tenant</c>, RowKey the id, columns <c>Config</c> (the config's JSON without API keys),
/// <c>Version</c> (incremented on every write), <c>UpdatedAt</c>, <c>Destinations</c> (count);
/// a config too large for a table property goes to the blob <c>{id}/v{version}.json</c>
/// instead, named by <c>ConfigBlob</c> (with its ETag in <c>ConfigBlobETag</c>). Key rows:
/// PartitionKey <c>key</c>, RowKey the key's digest (<see cref="ApiKeyHasher"/>: <c>p{version}-{hex HMAC}</c>,
/// or the bare hex SHA-256 of unpeppered rows), columns <c>TenantId</c>, <c>CreatedAt</c>. The row
/// <c>meta/keys</c> holds <c>Version</c>, moved by every key change, so that readers reload the key rows
/// only when they changed. Plain keys are never stored nor logged.
/// </summary>
public partial class TenantStore
{
    /// <summary>Blob container for configs too large for a row.</summary>
    public const string DefaultBlobContainer = "tenants";

    /// <summary>
    /// Longest config JSON kept in the row, in characters: a string property holds at most
    /// 64 KiB stored as UTF-16 ("Understanding the Table service data model", property types),
    /// so about 60 KB leaves room.
    /// </summary>
    public const int MaxInlineConfigChars = 30 * 1024;

    internal const string TenantPartition = "tenant";
    internal const string RowKeyColumn = "RowKey"; // a projection ($select) returns only the columns it names
    internal const string KeyPartition = "key";
    internal const string ConfigColumn = "Config";
    internal const string ConfigBlobColumn = "ConfigBlob";
    internal const string ConfigBlobETagColumn = "ConfigBlobETag";
    internal const string VersionColumn = "Version";
    internal const string UpdatedAtColumn = "UpdatedAt";
    internal const string DestinationsColumn = "Destinations";
    internal const string TenantIdColumn = "TenantId";
    internal const string CreatedAtColumn = "CreatedAt";
    internal const string MetaPartition = "meta";
    internal const string KeysVersionRow = "keys";

    // A write re-reads and retries when a concurrent writer changed the row between its read
    // and its write; a handful of rounds is plenty, endless contention is a bug.
    private const int MaxAttempts = 8;

    private readonly TableClient _table = null!;
    private readonly BlobContainerClient? _blobs;
    private readonly TimeProvider _time = TimeProvider.System;

    public TenantStore(TableServiceClient service, string tableName = StorageNames.DefaultTenants, BlobContainerClient? configBlobs = null, TimeProvider? timeProvider = null, ApiKeyHasher? keys = null)
        : this(service.GetTableClient(tableName), configBlobs, timeProvider, keys)
    {
    }

    /// <param name="configBlobs">Where configs larger than <see cref="MaxInlineConfigChars"/> go; without it they are refused.</param>
    /// <param name="keys">How key rows are digested (peppers); unpeppered when null.</param>
    public TenantStore(TableClient table, BlobContainerClient? configBlobs = null, TimeProvider? timeProvider = null, ApiKeyHasher? keys = null)
    {
        _table = table;
        _blobs = configBlobs;
        _time = timeProvider ?? TimeProvider.System;
        Keys = keys ?? ApiKeyHasher.Default;
    }

    /// <summary>How this store digests keys: what the directory must look up with.</summary>
    public ApiKeyHasher Keys { get; } = ApiKeyHasher.Default;

    /// <summary>For mocking.</summary>
    protected TenantStore()
    {
    }

    /// <summary>For mocking, with a key hasher.</summary>
    protected TenantStore(ApiKeyHasher keys) => Keys = keys;

    public virtual string TableName => _table.Name;

    public virtual async Task EnsureCreatedAsync(CancellationToken cancellationToken = default)
    {
        await _table.CreateIfNotExistsAsync(cancellationToken);
        if (_blobs is not null)
        {
            await _blobs.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
        }
    }

    /// <summary>
    /// Writes every tenant of the file (new version each) and, for each tenant whose
    /// <c>apiKeys</c> is present, makes its stored keys exactly the file's: new keys are added
    /// before old ones are deleted, so a tenant is never without a key mid-way. Tenants not in
    /// the file are left alone. Refuses (before writing anything) a file that does not validate
    /// or that gives a tenant a key another tenant holds.
    /// </summary>
    public virtual async Task<TenantApplyResult> ApplyAsync(TenantFile file, CancellationToken cancellationToken = default)
    {
        // Deployment rules (file roots) are the parser's and the exporter's: the store does not know the deployment.
        if (TenantFileParser.Validate(file, rules: TenantFileRules.AnyPath) is { Count: > 0 } invalid)
        {
            throw new TenantConfigException(invalid);
        }

        file = TenantFileParser.Normalize(file);

        var hashes = new List<string[]?>(file.Tenants.Count);
        foreach (var tenant in file.Tenants)
        {
            hashes.Add(tenant.ApiKeys?.Select(k => Keys.RowKey(k)).ToArray());
        }

        await CheckKeyOwnersAsync(file, cancellationToken);

        var applied = new List<TenantApplied>(file.Tenants.Count);
        for (int t = 0; t < file.Tenants.Count; t++)
        {
            var tenant = file.Tenants[t];
            var written = await WriteConfigAsync(tenant, mustBeNew: false, cancellationToken);
            (int added, int removed) = hashes[t] is { } desired
                ? await ReplaceKeysAsync(tenant.Id, desired, cancellationToken)
                : (0, 0);
            applied.Add(new TenantApplied(tenant.Id, written.Version, written.Created, added, removed, written.InBlob));
        }

        if (applied.Any(a => a.KeysAdded + a.KeysRemoved > 0))
        {
            await BumpKeysVersionAsync(cancellationToken);
        }

        return new TenantApplyResult(applied);
    }

    /// <summary>
    /// Creates tenant <paramref name="id"/> with an empty config and one new key, returned
    /// here and nowhere else. Throws <see cref="InvalidOperationException"/> when the tenant exists.
    /// </summary>
    public virtual async Task<string> AddAsync(string id, CancellationToken cancellationToken = default)
    {
        TenantIds.ThrowIfInvalid(id);
        await WriteConfigAsync(new TenantConfig { Id = id }, mustBeNew: true, cancellationToken);
        string key = ApiKey.Generate();
        await _table.AddEntityAsync(KeyRow(Keys.RowKey(key), id), cancellationToken);
        await BumpKeysVersionAsync(cancellationToken);
        return key;
    }

    /// <summary>
    /// A new key for the tenant, returned here and nowhere else; every other key of the tenant
    /// is deleted. Throws <see cref="KeyNotFoundException"/> when the tenant does not exist.
    /// </summary>
    public virtual async Task<string> RotateKeyAsync(string id, CancellationToken cancellationToken = default)
    {
        TenantIds.ThrowIfInvalid(id);
        var row = await _table.GetEntityIfExistsAsync<TableEntity>(TenantPartition, id, [VersionColumn], cancellationToken);
        if (!row.HasValue)
        {
            throw new KeyNotFoundException($"no tenant \"{id}\"");
        }

        string key = ApiKey.Generate();
        await ReplaceKeysAsync(id, [Keys.RowKey(key)], cancellationToken);
        await BumpKeysVersionAsync(cancellationToken);
        return key;
    }

    /// <summary>Deletes the tenant's keys, then its row and config blobs. False when there was no such tenant.</summary>
    public virtual async Task<bool> RemoveAsync(string id, CancellationToken cancellationToken = default)
    {
        TenantIds.ThrowIfInvalid(id);
        await ReplaceKeysAsync(id, [], cancellationToken);
        await BumpKeysVersionAsync(cancellationToken);
        // DeleteEntity answers a missing row with its 404 response rather than an exception.
        var deleted = await _table.DeleteEntityAsync(TenantPartition, id, ETag.All, cancellationToken);
        bool existed = deleted.Status != TableKeys.NotFound;

        if (_blobs is not null)
        {
            try
            {
                await foreach (var blob in _blobs.GetBlobsAsync(BlobTraits.None, BlobStates.None, id + "/", cancellationToken))
                {
                    await _blobs.DeleteBlobIfExistsAsync(blob.Name, cancellationToken: cancellationToken);
                }
            }
            catch (RequestFailedException ex) when (ex.Status == TableKeys.NotFound)
            {
                // No container: nothing was ever stored in a blob.
            }
        }

        return existed;
    }

    /// <summary>Every tenant, by id, with its version and key and destination counts.</summary>
    public virtual async Task<IReadOnlyList<TenantSummary>> ListAsync(CancellationToken cancellationToken = default)
    {
        var keyCounts = new Dictionary<string, int>(StringComparer.Ordinal);
        await foreach (var key in _table.QueryAsync<TableEntity>(
                           TableClient.CreateQueryFilter($"PartitionKey eq {KeyPartition}"), select: [RowKeyColumn, TenantIdColumn], cancellationToken: cancellationToken))
        {
            if (key.GetString(TenantIdColumn) is { } tenantId)
            {
                keyCounts[tenantId] = keyCounts.GetValueOrDefault(tenantId) + 1;
            }
        }

        var tenants = new List<TenantSummary>();
        await foreach (var row in _table.QueryAsync<TableEntity>(
                           TableClient.CreateQueryFilter($"PartitionKey eq {TenantPartition}"),
                           select: [RowKeyColumn, VersionColumn, DestinationsColumn, UpdatedAtColumn],
                           cancellationToken: cancellationToken))
        {
            tenants.Add(new TenantSummary(
                row.RowKey,
                row.GetInt64(VersionColumn) ?? 0,
                keyCounts.GetValueOrDefault(row.RowKey),
                row.GetInt32(DestinationsColumn) ?? 0,
                row.GetDateTimeOffset(UpdatedAtColumn)));
        }

        tenants.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
        return tenants;
    }
}
