using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Processing;

/// <summary>
/// The hook of an <see cref="IEventProcessor"/> that keeps per-partition state which must travel
/// with the partition (delta → cumulative totals): the drain restores it right after claiming the
/// partition and saves it before each checkpoint, storing what <see cref="SaveStateAsync"/> returns in
/// the checkpoint row's <c>State</c>. The saved state may be ahead of the checkpoint (a crash between
/// the save and the checkpoint write) but never behind it, so the processor must treat re-delivered
/// data as already counted.
/// </summary>
public interface IPartitionStateful
{
    /// <summary>Replaces the partition's state with the one its checkpoint references (<see cref="FencedCheckpoint.State"/>).</summary>
    Task RestoreStateAsync(FencedCheckpoint checkpoint, CancellationToken cancellationToken = default);

    /// <summary>Saves the partition's state if it changed; returns the new checkpoint <c>State</c>, or null to leave it as it is.</summary>
    Task<string?> SaveStateAsync(FencedCheckpoint checkpoint, CancellationToken cancellationToken = default);
}
