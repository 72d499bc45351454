using Azure;
using Azure.Data.Tables;
using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Tenants;

// Key rows (digest → tenant) and the meta/keys version that tells readers when they changed.
public partial class TenantStore
{
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
}
