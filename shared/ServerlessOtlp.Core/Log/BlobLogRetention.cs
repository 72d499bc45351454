namespace ServerlessOtlp.Log;

/// <summary>
/// The blob log's retention: whole sealed segments are deleted, never a partial one, so a reader
/// that meets a missing segment knows to continue at the next (<see cref="BlobLog.ReadAsync"/>).
/// </summary>
internal sealed class BlobLogRetention(BlobLog log) : ILogRetention
{
    /// <summary>Deletes sealed segments that end at or before <paramref name="keepFrom"/> and were last written before <paramref name="olderThan"/>.</summary>
    public async Task<int> DeleteBeforeAsync(int partition, LogPosition keepFrom, DateTimeOffset olderThan, CancellationToken cancellationToken = default)
    {
        if (keepFrom.IsStart)
        {
            return 0;
        }

        var (keepSegment, _) = BlobLog.Unpack(keepFrom);
        int deleted = 0;
        foreach (int s in await log.ListSegmentsAsync(partition, cancellationToken))
        {
            if (s >= keepSegment)
            {
                break;
            }

            var blob = log.Segment(partition, s);
            var props = (await blob.GetPropertiesAsync(cancellationToken: cancellationToken)).Value;
            if (props.IsSealed && props.LastModified < olderThan)
            {
                await blob.DeleteIfExistsAsync(cancellationToken: cancellationToken);
                deleted++;
            }
        }

        return deleted;
    }
}
