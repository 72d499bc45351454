using ServerlessOtlp.Log;
using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Processing;

/// <summary>
/// The Retention timer's logic, for a log that deletes data on request (<see cref="IPartitionedLog.Retention"/>,
/// the blob log): deletes what lies wholly before the partition's checkpoint (and every active tenant replay
/// cursor's position) and is older than the retention. A log without it (Event Hubs) expires data itself.
/// </summary>
/// <param name="time">The clock the retention is measured on; the system's unless a test fakes it.</param>
public sealed class RetentionSweep(IPartitionedLog log, CheckpointStore checkpoints, DrainOptions drain, TimeSpan retention, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Sweeps every partition with a checkpoint once.</summary>
    /// <returns>How many units of data (blob segments) were deleted.</returns>
    public async Task<int> SweepAsync(CancellationToken cancellationToken = default)
    {
        if (log.Retention is not { } logRetention)
        {
            return 0;
        }

        int deleted = 0;
        var cutoff = _time.GetUtcNow() - retention;
        var cursors = await checkpoints.ListCursorsAsync(log.Name, cancellationToken);
        foreach (var checkpoint in await checkpoints.ListAsync(log.Name, drain.ConsumerGroup, cancellationToken))
        {
            // A replay still reading older data keeps it.
            long keepFrom = checkpoint.Position;
            foreach (var cursor in cursors)
            {
                if (cursor.Partition == checkpoint.Partition && !cursor.IsDone)
                {
                    keepFrom = Math.Min(keepFrom, cursor.Position);
                }
            }

            deleted += await logRetention.DeleteBeforeAsync(checkpoint.Partition, new LogPosition(keepFrom), cutoff, cancellationToken);
        }

        return deleted;
    }
}
