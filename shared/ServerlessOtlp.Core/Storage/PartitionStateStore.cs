using System.Globalization;
using Azure;
using Azure.Storage.Blobs;

namespace ServerlessOtlp.Storage;

/// <summary>
/// Snapshots of a partition's processing state (delta → cumulative totals), one blob per save in
/// container <c>drain-state</c> as <c>{log}/{group}/{partition:D5}/{epoch:D19}-{ticks:D19}-{id}.json</c>.
/// The checkpoint row references the snapshot that belongs to it (<see cref="Reference"/> in its
/// <c>State</c>); a blob rather than the row itself because a table property holds at most 64 KiB and
/// a partition's series state grows with its series. Every save is a new blob, so a stalled former
/// owner can never overwrite the snapshot the current checkpoint points at.
/// </summary>
internal class PartitionStateStore
{
    /// <summary>How a checkpoint's <c>State</c> names its snapshot blob.</summary>
    public const string ReferencePrefix = "blob:";

    private readonly BlobContainerClient _container;
    private readonly TimeProvider _time;

    public PartitionStateStore(BlobContainerClient container, TimeProvider? time = null)
    {
        _container = container;
        _time = time ?? TimeProvider.System;
    }

    protected PartitionStateStore()
    {
        _container = null!;
        _time = TimeProvider.System;
    }

    public virtual Task EnsureCreatedAsync(CancellationToken cancellationToken = default) =>
        _container.CreateIfNotExistsAsync(cancellationToken: cancellationToken);

    /// <summary>The checkpoint <c>State</c> value that points at a snapshot blob.</summary>
    public static string Reference(string blobName) => ReferencePrefix + blobName;

    /// <summary>The blob a checkpoint <c>State</c> points at; null when it is empty or not a reference.</summary>
    public static string? BlobName(string? checkpointState) =>
        checkpointState != null && checkpointState.StartsWith(ReferencePrefix, StringComparison.Ordinal) ? checkpointState[ReferencePrefix.Length..] : null;

    /// <summary>Writes a snapshot; returns the checkpoint <c>State</c> value that references it.</summary>
    public virtual async Task<string> WriteAsync(FencedCheckpoint checkpoint, BinaryData snapshot, CancellationToken cancellationToken = default)
    {
        string name = string.Create(
            CultureInfo.InvariantCulture,
            $"{Prefix(checkpoint)}{checkpoint.Epoch:D19}-{_time.GetUtcNow().UtcTicks:D19}-{Guid.NewGuid():N}.json");
        await _container.GetBlobClient(name).UploadAsync(snapshot, overwrite: false, cancellationToken);
        return Reference(name);
    }

    /// <summary>The snapshot a checkpoint <c>State</c> references; null when it references none or the blob is gone.</summary>
    public virtual async Task<BinaryData?> ReadAsync(string? checkpointState, CancellationToken cancellationToken = default)
    {
        if (BlobName(checkpointState) is not { } name)
        {
            return null;
        }

        try
        {
            return (await _container.GetBlobClient(name).DownloadContentAsync(cancellationToken)).Value.Content;
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return null;
        }
    }

    /// <summary>
    /// Deletes the partition's snapshots other than the one <paramref name="keep"/> references:
    /// superseded saves and those of owners that died before their checkpoint landed. Call it only
    /// under the partition's fence (no one else can make another snapshot current).
    /// </summary>
    public virtual async Task<int> DeleteOthersAsync(FencedCheckpoint checkpoint, string? keep, CancellationToken cancellationToken = default)
    {
        string? kept = BlobName(keep);
        int deleted = 0;
        await foreach (var blob in _container.GetBlobsAsync(Azure.Storage.Blobs.Models.BlobTraits.None, Azure.Storage.Blobs.Models.BlobStates.None, Prefix(checkpoint), cancellationToken))
        {
            if (blob.Name != kept && (await _container.DeleteBlobIfExistsAsync(blob.Name, cancellationToken: cancellationToken)).Value)
            {
                deleted++;
            }
        }

        return deleted;
    }

    /// <summary>Deletes one snapshot by its checkpoint reference (best effort: it may be gone already).</summary>
    public virtual async Task DeleteAsync(string checkpointState, CancellationToken cancellationToken = default)
    {
        if (BlobName(checkpointState) is { } name)
        {
            await _container.DeleteBlobIfExistsAsync(name, cancellationToken: cancellationToken);
        }
    }

    private static string Prefix(FencedCheckpoint checkpoint) =>
        string.Create(CultureInfo.InvariantCulture, $"{checkpoint.Log}/{checkpoint.Group}/{checkpoint.Partition:D5}/");
}
