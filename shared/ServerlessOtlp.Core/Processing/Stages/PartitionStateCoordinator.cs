using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using ServerlessOtlp.Export;
using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Processing.Stages;

/// <summary>
/// The one owner of the partition state that travels with the checkpoint: the per-partition state
/// of the exporters that keep some (delta → cumulative totals), restored on claim and saved as one
/// snapshot (by exporter kind) before the checkpoints that changed it. The drain reaches it through
/// the pipeline's <see cref="PartitionHooks.State"/>; the exporters only hold and version their
/// state. Without a <see cref="PartitionStateStore"/> the state lives only in this process.
/// </summary>
/// <param name="exporters">The pipeline's exporters with partition state, by kind (a build's set: fixed for the process).</param>
internal sealed class PartitionStateCoordinator(IReadOnlyList<(string Kind, IPartitionStateExporter Exporter)> exporters, PartitionStateStore? store, ILogger logger) : IPartitionStateful
{
    private readonly ConcurrentDictionary<int, long> _savedVersion = new();
    private readonly ConcurrentDictionary<int, string?> _superseded = new();

    /// <summary>
    /// Replaces the exporters' state of the partition with the snapshot its checkpoint references. A
    /// snapshot that is gone or unreadable starts the series over (a counter reset to the backend)
    /// rather than blocking the partition; a storage failure stops the drain, which is retried.
    /// </summary>
    public async Task RestoreStateAsync(FencedCheckpoint checkpoint, CancellationToken cancellationToken = default)
    {
        if (store == null || exporters.Count == 0 || IsReplayCursor(checkpoint))
        {
            return;
        }

        int partition = checkpoint.Partition;
        Dictionary<string, string>? snapshots = null;
        var data = await store.ReadAsync(checkpoint.State, cancellationToken);
        if (data == null && PartitionStateStore.BlobName(checkpoint.State) != null)
        {
            logger.LogWarning("Partition {Partition}: the state snapshot {State} is gone; delta series restart from zero", partition, checkpoint.State);
        }
        else if (data != null)
        {
            try
            {
                snapshots = JsonSerializer.Deserialize(data.ToMemory().Span, CoreJsonContext.Default.DictionaryStringString);
            }
            catch (JsonException ex)
            {
                logger.LogWarning(ex, "Partition {Partition}: the state snapshot {State} is unreadable; delta series restart from zero", partition, checkpoint.State);
            }
        }

        long version = 0;
        foreach (var (kind, stateful) in exporters)
        {
            // Snapshots are keyed by the destination kind (the enum names lower-cased before kinds were strings).
            string? snapshot = snapshots != null && snapshots.TryGetValue(kind, out var s) ? s : null;
            try
            {
                stateful.RestoreState(partition, snapshot);
            }
            catch (Exception ex) when (ex is FormatException or JsonException)
            {
                logger.LogWarning(ex, "Partition {Partition}: the {Kind} state in {State} is unreadable; its delta series restart from zero", partition, kind, checkpoint.State);
                stateful.RestoreState(partition, null);
            }

            version += stateful.StateVersion(partition);
        }

        _savedVersion[partition] = version;
        _superseded.TryRemove(partition, out _);
        try
        {
            // Saves that never became current (an owner died between save and checkpoint) and superseded ones.
            await store.DeleteOthersAsync(checkpoint, checkpoint.State, cancellationToken);
        }
        catch (Azure.RequestFailedException ex)
        {
            logger.LogDebug(ex, "Partition {Partition}: cleaning old state snapshots failed; the next claim tries again", partition);
        }
    }

    /// <summary>
    /// Saved before every checkpoint whose batch changed delta totals, so a snapshot is never behind
    /// its checkpoint (a snapshot behind would lose the increments in between for good; one ahead is
    /// harmless, the converter skips points not newer than a series' last). Batches without delta
    /// changes write nothing, so traces, logs and cumulative metrics cost no extra write.
    /// </summary>
    public async Task<string?> SaveStateAsync(FencedCheckpoint checkpoint, CancellationToken cancellationToken = default)
    {
        if (store == null || exporters.Count == 0 || IsReplayCursor(checkpoint))
        {
            return null;
        }

        int partition = checkpoint.Partition;
        long version = 0;
        foreach (var (_, stateful) in exporters)
        {
            version += stateful.StateVersion(partition);
        }

        if (_savedVersion.TryGetValue(partition, out long saved) && saved == version)
        {
            return null;
        }

        var snapshots = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (kind, stateful) in exporters)
        {
            if (stateful.SnapshotState(partition) is { } snapshot)
            {
                snapshots[kind] = snapshot;
            }
        }

        // The one the row referenced before the previous save is no longer current once that save's checkpoint landed.
        if (_superseded.TryRemove(partition, out var superseded) && superseded != null && superseded != checkpoint.State)
        {
            await store.DeleteAsync(superseded, cancellationToken);
        }

        string reference = await store.WriteAsync(checkpoint, BinaryData.FromObjectAsJson(snapshots, CoreJsonContext.Default.DictionaryStringString), cancellationToken);
        _superseded[partition] = checkpoint.State;
        _savedVersion[partition] = version;
        return reference;
    }

    /// <summary>
    /// A tenant replay cursor re-reads what the live drain already counted, through the same
    /// exporters: the partition's delta totals belong to the live checkpoint, so the cursor neither
    /// replaces them (that would reset the live series) nor saves them; its replayed points are
    /// skipped as not newer than what the series has.
    /// </summary>
    private static bool IsReplayCursor(FencedCheckpoint checkpoint) =>
        checkpoint.Group.StartsWith(ReplayCursor.GroupPrefix, StringComparison.Ordinal);
}
