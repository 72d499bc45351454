using Azure;
using Azure.Data.Tables;
using Azure.Storage.Blobs.Models;
using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Tenants;

// A tenant's config: one row, or a blob the row names when it is too large for a table property.
public partial class TenantStore
{
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
