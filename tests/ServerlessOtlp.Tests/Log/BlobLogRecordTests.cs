using System.Buffers.Binary;
using System.IO.Hashing;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;

namespace ServerlessOtlp.Tests.Log;

/// <summary>The blob log's record framing and parser, without storage: damage never throws and never invents a record.</summary>
public sealed class BlobLogRecordTests
{
    private static readonly Guid Writer = Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e");

    private static List<LogEvent> Events(int seed, int count)
    {
        var rnd = new Random(seed);
        var list = new List<LogEvent>();
        for (int i = 0; i < count; i++)
        {
            var body = new byte[rnd.Next(0, 300)];
            rnd.NextBytes(body);
            var props = new EventProperties(
                "tenant-" + rnd.Next(5),
                (Signal)rnd.Next(1, 4),
                BodyCodec.Protobuf,
                rnd.Next(0, 1000),
                DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000 + rnd.Next()),
                rnd.Next(2) == 0 ? "gw-1" : "gateway-ü-2");
            list.Add(new LogEvent(props, body));
        }

        return list;
    }

    private static byte[] Frame(IReadOnlyList<LogEvent> events)
    {
        var buffer = new byte[events.Sum(e => BlobLogRecord.SizeOf(e))];
        int w = 0;
        for (int i = 0; i < events.Count; i++)
        {
            w += BlobLogRecord.Write(buffer.AsSpan(w), events[i], Writer, (ulong)i + 1);
        }

        Assert.Equal(buffer.Length, w);
        return buffer;
    }

    /// <summary>Parses a whole segment the way the reader does: repeatedly, until nothing more is consumed.</summary>
    private static List<ReadEvent> ParseAll(byte[] data, bool reachedEnd)
    {
        var state = new BlobLogReader.PartitionReadState();
        var events = new List<ReadEvent>();
        int offset = 0;
        while (offset < data.Length)
        {
            // Small batches, as a reader with a small maxEvents makes them.
            var batch = new List<ReadEvent>();
            int bytes = 0;
            int consumed = BlobLogReader.ParseRecords(data[offset..], 0, offset, reachedEnd, state, batch, 7, int.MaxValue, ref bytes);
            events.AddRange(batch);
            if (consumed == 0)
            {
                break;
            }

            offset += consumed;
        }

        return events;
    }

    private static bool IsWritten(ReadEvent e, IReadOnlyList<LogEvent> written) =>
        written.Any(w => w.Properties == e.Properties && w.Body.Span.SequenceEqual(e.Body.Span));

    [Fact]
    public void Undamaged_records_read_back_exactly_with_positions_and_dedupe()
    {
        var written = Events(1, 25);
        var data = Frame(written);
        var events = ParseAll(data, reachedEnd: true);
        Assert.Equal(written.Count, events.Count);
        long offset = 0;
        for (int i = 0; i < written.Count; i++)
        {
            Assert.False(events[i].IsCorrupt);
            Assert.Equal(written[i].Properties, events[i].Properties);
            Assert.True(written[i].Body.Span.SequenceEqual(events[i].Body.Span));
            Assert.Equal(BlobLog.Pack(0, offset), events[i].Position);
            offset += BlobLogRecord.SizeOf(written[i]);
            Assert.Equal(BlobLog.Pack(0, offset), events[i].Next);
        }

        // The same bytes again (a retried append) are dropped along one continuous read.
        var twice = ParseAll([.. data, .. data], reachedEnd: true);
        Assert.Equal(written.Count, twice.Count);
    }

    [Fact]
    public void Incomplete_tail_is_left_for_the_next_read_unless_the_segment_ended()
    {
        var written = Events(2, 3);
        var data = Frame(written);
        var cut = data[..(data.Length - 5)];
        var state = new BlobLogReader.PartitionReadState();
        var events = new List<ReadEvent>();
        int bytes = 0;
        int consumed = BlobLogReader.ParseRecords(cut, 0, 0, reachedEnd: false, state, events, 100, int.MaxValue, ref bytes);
        Assert.Equal(2, events.Count);
        Assert.Equal(data.Length - BlobLogRecord.SizeOf(written[2]), consumed);

        var atEnd = ParseAll(cut, reachedEnd: true);
        Assert.Equal(3, atEnd.Count);
        Assert.True(atEnd[2].IsCorrupt);
        Assert.Contains("truncated", atEnd[2].CorruptReason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_record_with_a_valid_CRC_but_inconsistent_header_is_corrupt_not_an_exception()
    {
        var e = Events(3, 1)[0];
        var record = Frame([e]);
        // Claim a 255-byte tenant in a record far too short for it, and make the CRC agree.
        record[BlobLogRecord.FixedHeaderSize] = 255;
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(8), Crc32.HashToUInt32(record.AsSpan(12)));
        Assert.Equal(BlobLogRecord.ParseStatus.Corrupt, BlobLogRecord.TryParse(record, out _, out string? reason));
        Assert.NotNull(reason);

        // An unknown signal with a valid CRC.
        record = Frame([e]);
        record[37] = 9;
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(8), Crc32.HashToUInt32(record.AsSpan(12)));
        Assert.Equal(BlobLogRecord.ParseStatus.Corrupt, BlobLogRecord.TryParse(record, out _, out _));

        // A received-at time outside DateTimeOffset's range with a valid CRC.
        record = Frame([e]);
        BinaryPrimitives.WriteInt64LittleEndian(record.AsSpan(44), long.MaxValue);
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(8), Crc32.HashToUInt32(record.AsSpan(12)));
        Assert.Equal(BlobLogRecord.ParseStatus.Corrupt, BlobLogRecord.TryParse(record, out _, out _));
    }

    [Property(MaxTest = 300)]
    public Property Flipped_bytes_never_throw_and_never_invent_a_record(int seed, NonEmptyArray<int> positions, byte mask, bool reachedEnd)
    {
        var written = Events(seed, 1 + Math.Abs(seed % 12));
        var data = Frame(written);
        foreach (int p in positions.Get)
        {
            data[(int)((uint)p % (uint)data.Length)] ^= mask == 0 ? (byte)1 : mask;
        }

        var events = ParseAll(data, reachedEnd);
        return (events.All(e => e.IsCorrupt || IsWritten(e, written))
                && events.Count(e => !e.IsCorrupt) <= written.Count)
            .Label($"{events.Count} events, {events.Count(e => e.IsCorrupt)} corrupt");
    }

    [Property(MaxTest = 300)]
    public Property Truncation_never_throws_and_keeps_every_whole_record(int seed, PositiveInt cut, bool reachedEnd)
    {
        var written = Events(seed, 1 + Math.Abs(seed % 12));
        var data = Frame(written);
        int length = cut.Get % (data.Length + 1);
        var events = ParseAll(data[..length], reachedEnd);

        int whole = 0;
        for (int size = 0; whole < written.Count && size + BlobLogRecord.SizeOf(written[whole]) <= length; whole++)
        {
            size += BlobLogRecord.SizeOf(written[whole]);
        }

        var valid = events.Where(e => !e.IsCorrupt).ToList();
        bool prefix = valid.Count == whole && valid.Select((e, i) => IsWritten(e, [written[i]])).All(x => x);
        bool tail = reachedEnd ? events.Count(e => e.IsCorrupt) == (length > SizeOfPrefix(written, whole) ? 1 : 0) : events.All(e => !e.IsCorrupt);
        return (prefix && tail).Label($"length {length} of {data.Length}: {valid.Count} valid (expected {whole}), {events.Count - valid.Count} corrupt");
    }

    private static int SizeOfPrefix(IReadOnlyList<LogEvent> written, int count) => written.Take(count).Sum(e => BlobLogRecord.SizeOf(e));

    [Property(MaxTest = 200)]
    public Property Random_bytes_never_throw_and_never_parse_as_a_record(byte[] garbage, bool reachedEnd)
    {
        var written = Events(7, 3);
        // Garbage alone, and garbage between valid records (which must all still be read).
        var alone = ParseAll(garbage, reachedEnd);
        var framed = Frame(written);
        var between = ParseAll([.. framed[..BlobLogRecord.SizeOf(written[0])], .. garbage, .. framed[BlobLogRecord.SizeOf(written[0])..]], reachedEnd: true);
        var valid = between.Where(e => !e.IsCorrupt).ToList();
        return (alone.All(e => e.IsCorrupt) && valid.Count == 3 && valid.Select((e, i) => IsWritten(e, [written[i]])).All(x => x))
            .Label($"{alone.Count} from garbage alone; {valid.Count} valid around it");
    }
}
