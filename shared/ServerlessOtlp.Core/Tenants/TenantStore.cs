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
public class TenantStore
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

    /// <summary>The tenant's config with its <see cref="TenantConfig.Version"/> (and null API keys), or null.</summary>
    public virtual async Task<TenantConfig?> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        if (!TenantIds.IsValid(id))
        {
            return null;
        }

        for (int attempt = 0; attempt < MaxAttempts; attempt++)
        {
            var row = await _table.GetEntityIfExistsAsync<TableEntity>(TenantPartition, id, cancellationToken: cancellationToken);
            if (!row.HasValue)
            {
                return null;
            }

            var entity = row.Value!;
            long version = entity.GetInt64(VersionColumn) ?? 0;
            string? json = entity.GetString(ConfigColumn);
            if (json is null && entity.GetString(ConfigBlobColumn) is { } blobName)
            {
                if (_blobs is null)
                {
                    throw new InvalidOperationException($"tenant \"{id}\" has its config in blob {blobName}, but this TenantStore has no blob container");
                }

                try
                {
                    var conditions = new BlobRequestConditions { IfMatch = new ETag(entity.GetString(ConfigBlobETagColumn) ?? "*") };
                    var content = await _blobs.GetBlobClient(blobName).DownloadContentAsync(conditions, cancellationToken);
                    json = content.Value.Content.ToString();
                }
                catch (RequestFailedException ex) when (ex.Status is TableKeys.NotFound or TableKeys.PreconditionFailed)
                {
                    // A newer apply replaced the blob between our two reads: read the row again.
                    continue;
                }
            }

            if (json is null)
            {
                throw new InvalidOperationException($"tenant \"{id}\" has a row without {ConfigColumn} or {ConfigBlobColumn}");
            }

            return TenantJson.DeserializeStored(json) with { Version = version, ApiKeys = null };
        }

        throw new InvalidOperationException($"tenant \"{id}\": its config blob kept changing while being read");
    }

    /// <summary>The id of the tenant that holds <paramref name="plainKey"/>, or null: a point read per accepted pepper version.</summary>
    public virtual async Task<string?> FindTenantByKeyAsync(string plainKey, CancellationToken cancellationToken = default)
    {
        if (plainKey.Length is 0 or > ApiKey.MaxLength)
        {
            return null;
        }

        foreach (int version in Keys.AcceptedVersions)
        {
            var row = await _table.GetEntityIfExistsAsync<TableEntity>(KeyPartition, ApiKeyHasher.RowKey(Keys.Digest(plainKey, version)), [TenantIdColumn], cancellationToken);
            if (row.HasValue && row.Value!.GetString(TenantIdColumn) is { } tenant)
            {
                return tenant;
            }
        }

        return null;
    }

    /// <summary>Every key row (digest → tenant): what a directory loads in bulk instead of a read per unknown key.</summary>
    public virtual async Task<IReadOnlyList<(KeyDigest Digest, string Tenant)>> ListKeyDigestsAsync(CancellationToken cancellationToken = default)
    {
        var rows = new List<(KeyDigest, string)>();
        await foreach (var row in _table.QueryAsync<TableEntity>(
                           TableClient.CreateQueryFilter($"PartitionKey eq {KeyPartition}"), select: [RowKeyColumn, TenantIdColumn], cancellationToken: cancellationToken))
        {
            if (ApiKeyHasher.TryParseRowKey(row.RowKey, out var digest) && row.GetString(TenantIdColumn) is { } tenant)
            {
                rows.Add((digest, tenant));
            }
        }

        return rows;
    }

    /// <summary>Moves with every key change (see the class); 0 before the first.</summary>
    public virtual async Task<long> ReadKeysVersionAsync(CancellationToken cancellationToken = default)
    {
        var row = await _table.GetEntityIfExistsAsync<TableEntity>(MetaPartition, KeysVersionRow, [VersionColumn], cancellationToken);
        return row.HasValue ? row.Value!.GetInt64(VersionColumn) ?? 0 : 0;
    }

    /// <summary>
    /// Re-digests unpeppered key rows under the current pepper (no plain key needed: the HMAC is over the
    /// SHA-256 the row holds). Adds the new row, then deletes the old one, so a key works throughout.
    /// Returns how many rows were (or, with <paramref name="dryRun"/>, would be) migrated.
    /// </summary>
    public virtual async Task<int> MigrateKeysAsync(bool dryRun, CancellationToken cancellationToken = default)
    {
        int migrated = 0;
        foreach (var (digest, tenant) in await ListKeyDigestsAsync(cancellationToken))
        {
            if (Keys.Migrate(digest) is not { } peppered)
            {
                continue;
            }

            migrated++;
            if (!dryRun)
            {
                await _table.UpsertEntityAsync(KeyRow(ApiKeyHasher.RowKey(peppered), tenant), TableUpdateMode.Replace, cancellationToken);
                await _table.DeleteEntityAsync(KeyPartition, ApiKeyHasher.RowKey(digest), ETag.All, cancellationToken);
            }
        }

        if (migrated > 0 && !dryRun)
        {
            await BumpKeysVersionAsync(cancellationToken);
        }

        return migrated;
    }

    private async Task BumpKeysVersionAsync(CancellationToken cancellationToken)
    {
        var row = await _table.GetEntityIfExistsAsync<TableEntity>(MetaPartition, KeysVersionRow, [VersionColumn], cancellationToken);
        long next = (row.HasValue ? row.Value!.GetInt64(VersionColumn) ?? 0 : 0) + 1;
        var entity = new TableEntity(MetaPartition, KeysVersionRow) { [VersionColumn] = next };
        try
        {
            if (row.HasValue)
            {
                await _table.UpdateEntityAsync(entity, row.Value!.ETag, TableUpdateMode.Replace, cancellationToken);
            }
            else
            {
                await _table.AddEntityAsync(entity, cancellationToken);
            }
        }
        catch (RequestFailedException ex) when (TableKeys.IsConcurrencyLoss(ex))
        {
            // Another writer moved it meanwhile: any move is enough for readers to reload.
        }
    }

    private async Task CheckKeyOwnersAsync(TenantFile file, CancellationToken cancellationToken)
    {
        // A key may move from one tenant of the file to another in the same apply; any other
        // holder keeps it, and the apply is refused.
        var releasedBy = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var tenant in file.Tenants)
        {
            if (tenant.ApiKeys is { } list)
            {
                releasedBy[tenant.Id] = new HashSet<string>(list, StringComparer.Ordinal);
            }
        }

        var errors = new List<TenantConfigError>();
        for (int t = 0; t < file.Tenants.Count; t++)
        {
            string id = file.Tenants[t].Id;
            for (int k = 0; file.Tenants[t].ApiKeys is { } list && k < list.Count; k++)
            {
                string? owner = await FindTenantByKeyAsync(list[k], cancellationToken);
                bool moving = owner is not null && releasedBy.TryGetValue(owner, out var ownerKeys) && !ownerKeys.Contains(list[k]);
                if (owner is not null && owner != id && !moving)
                {
                    errors.Add(new TenantConfigError(null, null, null, $"tenants[{t}].apiKeys[{k}]",
                        $"this API key already belongs to tenant \"{owner}\"; a key identifies exactly one tenant"));
                }
            }
        }

        if (errors.Count > 0)
        {
            throw new TenantConfigException(errors);
        }
    }

    /// <summary>Makes the tenant's key rows exactly <paramref name="desired"/>: adds first, then deletes.</summary>
    private async Task<(int Added, int Removed)> ReplaceKeysAsync(string id, IReadOnlyCollection<string> desired, CancellationToken cancellationToken)
    {
        var current = new Dictionary<string, ETag>(StringComparer.Ordinal);
        await foreach (var row in _table.QueryAsync<TableEntity>(
                           TableClient.CreateQueryFilter($"PartitionKey eq {KeyPartition} and TenantId eq {id}"),
                           select: [RowKeyColumn, TenantIdColumn],
                           cancellationToken: cancellationToken))
        {
            current[row.RowKey] = row.ETag;
        }

        int added = 0;
        foreach (string hash in desired)
        {
            if (!current.ContainsKey(hash))
            {
                // Upsert: a key moving from another tenant of the same apply changes owner here.
                await _table.UpsertEntityAsync(KeyRow(hash, id), TableUpdateMode.Replace, cancellationToken);
                added++;
            }
        }

        int removed = 0;
        var keep = desired as IReadOnlySet<string> ?? new HashSet<string>(desired, StringComparer.Ordinal);
        foreach (var (hash, etag) in current)
        {
            if (keep.Contains(hash))
            {
                continue;
            }

            try
            {
                // Conditional: a key that moved to another tenant meanwhile is not ours to delete.
                var deleted = await _table.DeleteEntityAsync(KeyPartition, hash, etag, cancellationToken);
                removed += deleted.Status == TableKeys.NotFound ? 0 : 1;
            }
            catch (RequestFailedException ex) when (ex.Status is TableKeys.NotFound or TableKeys.PreconditionFailed)
            {
            }
        }

        return (added, removed);
    }

    private TableEntity KeyRow(string hash, string tenantId) => new(KeyPartition, hash)
    {
        [TenantIdColumn] = tenantId,
        [CreatedAtColumn] = _time.GetUtcNow(),
    };

    private async Task<(long Version, bool Created, bool InBlob)> WriteConfigAsync(TenantConfig config, bool mustBeNew, CancellationToken cancellationToken)
    {
        string json = TenantJson.SerializeForStore(config);
        for (int attempt = 0; attempt < MaxAttempts; attempt++)
        {
            var existing = await _table.GetEntityIfExistsAsync<TableEntity>(TenantPartition, config.Id, [VersionColumn, ConfigBlobColumn], cancellationToken);
            if (mustBeNew && existing.HasValue)
            {
                throw new InvalidOperationException($"tenant \"{config.Id}\" exists; `tenants rotate-key` gives it a new key");
            }

            long version = existing.HasValue ? (existing.Value!.GetInt64(VersionColumn) ?? 0) + 1 : 1;
            var entity = new TableEntity(TenantPartition, config.Id)
            {
                [VersionColumn] = version,
                [UpdatedAtColumn] = _time.GetUtcNow(),
                [DestinationsColumn] = config.Destinations.Count,
            };

            string? blobName = null;
            if (json.Length <= MaxInlineConfigChars)
            {
                entity[ConfigColumn] = json;
            }
            else
            {
                if (_blobs is null)
                {
                    throw new InvalidOperationException(
                        $"tenant \"{config.Id}\": its config has {json.Length} characters, more than a table row holds ({MaxInlineConfigChars}), and this TenantStore has no blob container");
                }

                // Two racing writers may both upload this version; the row names the ETag of the
                // one whose row write won, and readers download on that ETag only.
                blobName = $"{config.Id}/v{version}.json";
                var uploaded = await _blobs.GetBlobClient(blobName).UploadAsync(BinaryData.FromString(json), overwrite: true, cancellationToken);
                entity[ConfigBlobColumn] = blobName;
                entity[ConfigBlobETagColumn] = uploaded.Value.ETag.ToString();
            }

            try
            {
                if (existing.HasValue)
                {
                    await _table.UpdateEntityAsync(entity, existing.Value!.ETag, TableUpdateMode.Replace, cancellationToken);
                }
                else
                {
                    await _table.AddEntityAsync(entity, cancellationToken);
                }
            }
            catch (RequestFailedException ex) when (TableKeys.IsConcurrencyLoss(ex))
            {
                continue;
            }

            if (existing.HasValue && existing.Value!.GetString(ConfigBlobColumn) is { } previous && previous != blobName && _blobs is not null)
            {
                await _blobs.DeleteBlobIfExistsAsync(previous, cancellationToken: cancellationToken);
            }

            return (version, !existing.HasValue, blobName is not null);
        }

        throw new InvalidOperationException($"tenant \"{config.Id}\": gave up after {MaxAttempts} concurrent updates");
    }
}
