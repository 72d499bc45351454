using System.Collections.Concurrent;
using Azure;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Microsoft.Extensions.Logging;

namespace ServerlessOtlp.Log;

/// <summary>
/// The blob log's reading: one continuous read per partition at a time, whose state (where the next
/// read continues, the last sequence seen per writer, to drop a retried append's duplicate) belongs to
/// one reader. A side reader (<see cref="BlobLog.OpenSideReader"/>) has its own, so it never disturbs
/// the drain's. A reader leaves a segment only after seeing it sealed and reading it to its end, and
/// skips a segment retention has deleted.
/// </summary>
internal sealed class BlobLogReader(BlobLog log, ILogger logger)
{
    private readonly ConcurrentDictionary<int, PartitionReadState> _states = new();

    /// <summary>Reads events at or after <paramref name="from"/>, up to the given count and bytes (<see cref="BlobLog.ReadAsync"/>).</summary>
    public async Task<ReadBatch> ReadAsync(int partition, LogPosition from, int maxEvents, int maxBytes, CancellationToken cancellationToken = default)
    {
        var state = _states.GetOrAdd(partition, _ => new PartitionReadState());
        if (state.Expected != from)
        {
            state.Seen.Clear(); // a seek: duplicates are only dropped along one continuous read
        }

        var events = new List<ReadEvent>();
        var (segment, offset) = BlobLog.Unpack(from);
        if (from.IsStart)
        {
            var segments = await log.ListSegmentsAsync(partition, cancellationToken);
            segment = segments.Count == 0 ? 0 : segments[0];
        }

        int bytes = 0;
        for (int hops = 0; hops < 1000 && events.Count < maxEvents && bytes < maxBytes; hops++)
        {
            var blob = log.Segment(partition, segment);
            BlobProperties props;
            try
            {
                props = (await blob.GetPropertiesAsync(cancellationToken: cancellationToken)).Value;
            }
            catch (RequestFailedException ex) when (ex.Status == 404)
            {
                // Not created yet (nothing written), or removed by retention: skip to the oldest remaining.
                var segments = await log.ListSegmentsAsync(partition, cancellationToken);
                int next = segments.FirstOrDefault(s => s > segment, -1);
                if (next < 0)
                {
                    break;
                }

                logger.LogWarning("Partition {Partition}: segment {Segment} is gone; continuing at segment {Next}", partition, segment, next);
                segment = next;
                offset = 0;
                continue;
            }

            if (offset >= props.ContentLength)
            {
                if (props.IsSealed)
                {
                    segment++;
                    offset = 0;
                    continue;
                }

                break;
            }

            long want = Math.Min(props.ContentLength - offset, Math.Max(maxBytes - bytes, BlobLogRecord.MaxRecordSize / 4));
            var data = await DownloadAsync(blob, offset, want, cancellationToken);
            bool reachedEnd = offset + data.Length >= props.ContentLength;
            int consumed = ParseRecords(data, segment, offset, reachedEnd, state, events, maxEvents, maxBytes, ref bytes);
            if (consumed == 0)
            {
                // With events in hand the next read continues here (the record did not fit, or is cut off).
                if (events.Count > 0 || data.Length < want || want >= BlobLogRecord.MaxRecordSize)
                {
                    break;
                }

                // A record larger than what we fetched: fetch it whole.
                data = await DownloadAsync(blob, offset, Math.Min(props.ContentLength - offset, BlobLogRecord.MaxRecordSize), cancellationToken);
                consumed = ParseRecords(data, segment, offset, offset + data.Length >= props.ContentLength, state, events, maxEvents, maxBytes, ref bytes);
                if (consumed == 0)
                {
                    break;
                }
            }

            offset += consumed;
            if (!(offset >= props.ContentLength && props.IsSealed))
            {
                if (consumed < data.Length || !reachedEnd)
                {
                    continue;
                }

                break;
            }
        }

        var nextPos = BlobLog.Pack(segment, offset);
        state.Expected = nextPos;
        return new ReadBatch(events, nextPos);
    }

    private static async Task<byte[]> DownloadAsync(AppendBlobClient blob, long offset, long length, CancellationToken cancellationToken)
    {
        var result = await blob.DownloadContentAsync(new BlobDownloadOptions { Range = new HttpRange(offset, length) }, cancellationToken);
        return result.Value.Content.ToArray();
    }

    /// <summary>Parses whole records from <paramref name="data"/>; returns the bytes consumed.</summary>
    internal static int ParseRecords(byte[] data, int segment, long baseOffset, bool reachedEnd, PartitionReadState state, List<ReadEvent> events, int maxEvents, int maxBytes, ref int bytes)
    {
        int pos = 0;
        while (pos < data.Length && events.Count < maxEvents && (events.Count == 0 || bytes < maxBytes))
        {
            var status = BlobLogRecord.TryParse(data.AsSpan(pos), out var rec, out string? reason);
            if (status == BlobLogRecord.ParseStatus.Incomplete)
            {
                if (!reachedEnd)
                {
                    break;
                }

                // The blob ends inside a record: appends are atomic, so this is damage, not a torn write.
                status = BlobLogRecord.ParseStatus.Corrupt;
                reason = "record truncated at the end of its segment";
            }

            var here = BlobLog.Pack(segment, baseOffset + pos);
            if (status == BlobLogRecord.ParseStatus.Corrupt)
            {
                int resync = FindNextRecord(data, pos + 1);
                if (resync < 0)
                {
                    resync = data.Length;
                }

                events.Add(new ReadEvent(here, BlobLog.Pack(segment, baseOffset + resync), null, data.AsMemory(pos, resync - pos), reason));
                bytes += resync - pos;
                pos = resync;
                continue;
            }

            bool duplicate = state.Seen.TryGetValue(rec.Writer, out ulong last) && rec.Sequence <= last;
            if (!duplicate && events.Count > 0 && bytes + rec.Length > maxBytes)
            {
                break; // the batch stays within maxBytes; this record starts the next read
            }

            pos += rec.Length;
            var next = BlobLog.Pack(segment, baseOffset + pos);
            if (duplicate)
            {
                continue; // a retried append of a record we already returned
            }

            state.Seen[rec.Writer] = rec.Sequence;
            events.Add(new ReadEvent(here, next, rec.Properties, data.AsMemory(pos - rec.Length + rec.BodyOffset, rec.BodyLength)));
            bytes += rec.Length;
        }

        return pos;
    }

    /// <summary>The next offset at which a complete, valid record starts, or -1.</summary>
    private static int FindNextRecord(byte[] data, int from)
    {
        var span = data.AsSpan();
        ReadOnlySpan<byte> magic = [0x4F, 0x54, 0x4C, 0x52];
        int pos = from;
        while (pos < span.Length)
        {
            int idx = span[pos..].IndexOf(magic);
            if (idx < 0)
            {
                return -1;
            }

            pos += idx;
            // A candidate cut off by the download is a resync point too: the next read fetches it whole.
            if (BlobLogRecord.TryParse(span[pos..], out _, out _) != BlobLogRecord.ParseStatus.Corrupt)
            {
                return pos;
            }

            pos++;
        }

        return -1;
    }

    internal sealed class PartitionReadState
    {
        public LogPosition Expected = new(long.MinValue);
        public readonly Dictionary<Guid, ulong> Seen = [];
    }
}
