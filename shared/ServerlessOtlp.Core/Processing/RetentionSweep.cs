using ServerlessOtlp.Log;
using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Processing;

/// <summary>
/// The Retention timer's logic for the blob log: deletes sealed segments that lie wholly before
/// the partition's checkpoint (and every active tenant replay cursor's position) and are older than
/// the retention. (Event Hubs expires data itself.)
/// </summary>
public sealed class RetentionSweep(IPartitionedLog log, CheckpointStore checkpoints, DrainOptions drain, TimeSpan retention)
{
    public async Task<int> SweepAsync(CancellationToken cancellationToken = default)
    {
        if (log is not BlobLog blobLog)
        {
            return 0;
        }

        int deleted = 0;
        var cutoff = DateTimeOffset.UtcNow - retention;
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

            deleted += await blobLog.DeleteSegmentsBeforeAsync(checkpoint.Partition, new LogPosition(keepFrom), cutoff, cancellationToken);
        }

        return deleted;
    }
}
