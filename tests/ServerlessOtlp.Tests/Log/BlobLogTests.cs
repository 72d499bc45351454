using System.Buffers.Binary;
using System.Text.Json;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Specialized;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tests.Infrastructure;
using ServerlessOtlp.Tests.Storage;

namespace ServerlessOtlp.Tests.Log;

/// <summary>The blob log against Azurite: metadata, concurrent writers across rollovers, corruption, time lookup, retention.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class BlobLogTests(AzuriteFixture azurite)
{
    private const string LogName = "otlp";

    private BlobContainerClient NewContainer(LostResponsePolicy? lostResponse = null)
    {
        var options = new BlobClientOptions();
        options.Retry.Delay = TimeSpan.FromMilliseconds(10);
        options.Retry.MaxRetries = 3;
        if (lostResponse != null)
        {
            options.AddPolicy(lostResponse, HttpPipelinePosition.PerRetry);
        }

        return new BlobServiceClient(azurite.ConnectionString, options).GetBlobContainerClient("log-" + Guid.NewGuid().ToString("N"));
    }

    private static async Task<BlobLog> OpenAsync(BlobContainerClient container, int partitions = 2, long segmentMaxBytes = 64 * 1024)
    {
        var log = new BlobLog(container, new BlobLogOptions { Name = LogName, Partitions = partitions, SegmentMaxBytes = segmentMaxBytes });
        await log.OpenAsync();
        return log;
    }

    /// <summary>An event whose body names its writer and sequence and is otherwise deterministic filler.</summary>
    private static LogEvent Event(int writer, int sequence, DateTimeOffset? receivedAt = null, int? size = null)
    {
        var rnd = new Random((writer * 1_000_003) + sequence);
        var body = new byte[size ?? rnd.Next(16, 4096)];
        rnd.NextBytes(body);
        BinaryPrimitives.WriteInt32LittleEndian(body, writer);
        BinaryPrimitives.WriteInt32LittleEndian(body.AsSpan(4), sequence);
        var props = new EventProperties($"tenant-{writer}", (Signal)(1 + (sequence % 3)), BodyCodec.Protobuf, sequence, receivedAt ?? DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000 + sequence), $"gw-{writer}");
        return new LogEvent(props, body);
    }

    private static (int Writer, int Sequence) Identify(ReadEvent e) =>
        (BinaryPrimitives.ReadInt32LittleEndian(e.Body.Span), BinaryPrimitives.ReadInt32LittleEndian(e.Body.Span[4..]));

    private static void AssertIsEvent(ReadEvent e, LogEvent expected)
    {
        Assert.False(e.IsCorrupt, e.CorruptReason);
        Assert.Equal(expected.Properties, e.Properties);
        Assert.True(expected.Body.Span.SequenceEqual(e.Body.Span), "body differs");
    }

    /// <summary>Reads a partition from <paramref name="from"/> to its current end.</summary>
    private static async Task<(List<ReadEvent> Events, LogPosition Next)> ReadAllAsync(BlobLog log, int partition, LogPosition from, int maxEvents = 50)
    {
        var events = new List<ReadEvent>();
        var pos = from;
        while (true)
        {
            var batch = await log.ReadAsync(partition, pos, maxEvents, 256 * 1024, new FencingToken(1));
            events.AddRange(batch.Events);
            if (batch.Events.Count == 0 && batch.Next == pos)
            {
                return (events, pos);
            }

            pos = batch.Next;
        }
    }

    [Fact]
    public async Task OpenAsync_records_the_partition_count_and_a_later_log_reads_it()
    {
        var container = NewContainer();
        var first = await OpenAsync(container, partitions: 4);
        Assert.Equal(4, first.PartitionCount);

        var meta = await container.GetBlobClient($"{LogName}/meta.json").DownloadContentAsync();
        using (var json = JsonDocument.Parse(meta.Value.Content.ToString()))
        {
            Assert.Equal(4, json.RootElement.GetProperty("Partitions").GetInt32());
        }

        var second = await OpenAsync(container, partitions: 16);
        Assert.Equal(4, second.PartitionCount);
        Assert.Throws<InvalidOperationException>(() => new BlobLog(container).PartitionCount);
    }

    [Fact]
    public async Task Empty_partition_reads_nothing_and_ends_at_zero()
    {
        var log = await OpenAsync(NewContainer());
        var batch = await log.ReadAsync(0, LogPosition.Start, 10, 1024 * 1024, new FencingToken(1));
        Assert.Empty(batch.Events);
        Assert.Equal(BlobLog.Pack(0, 0), await log.GetEndAsync(0));
        Assert.Equal(0, log.Lag(batch.Next, await log.GetEndAsync(0)));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => log.AppendAsync(2, [Event(0, 0)]));
    }

    [Fact]
    public async Task Concurrent_writers_across_rollovers_and_a_concurrent_reader_see_every_record_once_in_order()
    {
        const int writers = 4, perWriter = 60, partition = 1;
        var container = NewContainer();
        var logs = new List<BlobLog>();
        for (int w = 0; w < writers; w++)
        {
            logs.Add(await OpenAsync(container));
        }

        var reader = await OpenAsync(container);
        var writing = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            int seq = 0;
            var rnd = new Random(w);
            while (seq < perWriter)
            {
                int n = Math.Min(perWriter - seq, rnd.Next(1, 4));
                var batch = Enumerable.Range(seq, n).Select(s => Event(w, s)).ToList();
                await logs[w].AppendAsync(partition, batch);
                seq += n;
            }
        })).ToList();

        var seen = new Dictionary<int, int>();
        var all = new List<ReadEvent>();
        var pos = LogPosition.Start;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (all.Count < writers * perWriter)
        {
            Assert.True(DateTime.UtcNow < deadline, $"read {all.Count} of {writers * perWriter} records");
            var batch = await reader.ReadAsync(partition, pos, 20, 64 * 1024, new FencingToken(1));
            foreach (var e in batch.Events)
            {
                Assert.True(e.Position >= pos || pos.IsStart);
                Assert.True(e.Next > e.Position);
                var (w, s) = Identify(e);
                AssertIsEvent(e, Event(w, s));
                // Per writer, records come in sequence order, each exactly once.
                Assert.Equal(seen.GetValueOrDefault(w, -1) + 1, s);
                seen[w] = s;
                all.Add(e);
            }

            pos = batch.Next;
            if (batch.Events.Count == 0)
            {
                await Task.Delay(20);
            }
        }

        await Task.WhenAll(writing);
        Assert.All(Enumerable.Range(0, writers), w => Assert.Equal(perWriter - 1, seen[w]));
        Assert.Equal(all.Count, all.Select(e => e.Position).Distinct().Count());
        Assert.True(all.Zip(all.Skip(1)).All(p => p.First.Position < p.Second.Position), "positions increase");

        var segments = await reader.ListSegmentsAsync(partition);
        Assert.True(segments.Count >= 3, $"expected several rollovers, got {segments.Count} segment(s)");
        Assert.Empty(await reader.ListSegmentsAsync(0));

        // Nothing more to read; the end is where the reader stands.
        var tail = await reader.ReadAsync(partition, pos, 10, 1024 * 1024, new FencingToken(1));
        Assert.Empty(tail.Events);
        var end = await reader.GetEndAsync(partition);
        Assert.Equal(0, reader.Lag(tail.Next, end));
        Assert.True(reader.Lag(LogPosition.Start, end) > 64 * 1024);
        Assert.True(reader.Lag(all[all.Count / 2].Position, end) > 0);

        // A fresh reader from the start sees the same records (nothing was lost or added).
        var fresh = await OpenAsync(container);
        var (again, _) = await ReadAllAsync(fresh, partition, LogPosition.Start);
        Assert.Equal(all.Select(e => e.Position), again.Select(e => e.Position));
    }

    [Fact]
    public async Task A_retried_append_is_read_once()
    {
        var lost = new LostResponsePolicy();
        var container = NewContainer(lost);
        var log = await OpenAsync(container);
        await log.AppendAsync(0, [Event(0, 0)]);
        lost.Arm();
        await log.AppendAsync(0, [Event(0, 1), Event(0, 2)]);
        Assert.Equal(1, lost.Fired);
        await log.AppendAsync(0, [Event(0, 3)]);

        var (events, _) = await ReadAllAsync(await OpenAsync(container), 0, LogPosition.Start);
        Assert.Equal(new[] { 0, 1, 2, 3 }, events.Select(e => Identify(e).Sequence));
        Assert.All(events, e => AssertIsEvent(e, Event(0, Identify(e).Sequence)));
    }

    public static TheoryData<string> Corruptions => new() { "garbage", "magic and huge length", "magic and short length", "flipped body byte", "torn record" };

    [Theory]
    [MemberData(nameof(Corruptions))]
    public async Task A_corrupted_record_is_returned_as_corrupt_and_the_records_after_it_are_read(string kind)
    {
        var container = NewContainer();
        var log = await OpenAsync(container);
        await log.AppendAsync(0, [Event(0, 0), Event(0, 1), Event(0, 2)]);

        byte[] bad = kind switch
        {
            "garbage" => [.. "this is not a record at all, just some garbage"u8],
            "magic and huge length" => [0x4F, 0x54, 0x4C, 0x52, 0xFF, 0xFF, 0xFF, 0x7F, 1, 2, 3, 4],
            "magic and short length" => [0x4F, 0x54, 0x4C, 0x52, 10, 0, 0, 0, 1, 2, 3, 4],
            "flipped body byte" => Flip(RecordBytes(Event(9, 9))),
            "torn record" => RecordBytes(Event(9, 9))[..100],
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        var segment = container.GetAppendBlobClient($"{LogName}/p00000/0000000000");
        using (var stream = new MemoryStream(bad))
        {
            await segment.AppendBlockAsync(stream);
        }

        await log.AppendAsync(0, [Event(0, 3), Event(0, 4)]);

        var (events, _) = await ReadAllAsync(await OpenAsync(container), 0, LogPosition.Start);
        var corrupt = Assert.Single(events, e => e.IsCorrupt);
        Assert.False(string.IsNullOrEmpty(corrupt.CorruptReason));
        Assert.Null(corrupt.Properties);
        Assert.True(corrupt.Body.Span.SequenceEqual(bad), "a corrupt record's body is the raw bytes up to the next record");
        var valid = events.Where(e => !e.IsCorrupt).ToList();
        Assert.Equal(new[] { 0, 1, 2, 3, 4 }, valid.Select(e => Identify(e).Sequence));
        Assert.All(valid, e => AssertIsEvent(e, Event(0, Identify(e).Sequence)));
        Assert.Equal(3, events.IndexOf(corrupt));
        Assert.Equal(corrupt.Next, events[4].Position);
    }

    private static byte[] RecordBytes(LogEvent e)
    {
        var buffer = new byte[BlobLogRecord.SizeOf(e)];
        BlobLogRecord.Write(buffer, e, Guid.NewGuid(), 1);
        return buffer;
    }

    private static byte[] Flip(byte[] record)
    {
        record[^1] ^= 0x5A;
        return record;
    }

    [Fact]
    public async Task FindPositionAsync_finds_the_first_record_received_at_or_after_a_time()
    {
        var log = await OpenAsync(NewContainer(), segmentMaxBytes: 8 * 1024);
        var t0 = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
        for (int i = 0; i < 20; i++)
        {
            await log.AppendAsync(0, [Event(0, i, t0.AddMinutes(i), size: 1024)]);
        }

        var (events, end) = await ReadAllAsync(log, 0, LogPosition.Start);
        Assert.Equal(20, events.Count);
        Assert.True(BlobLog.Unpack(events[^1].Position).Segment > 0, "the records should span several segments");

        Assert.Equal(events[0].Position, await log.FindPositionAsync(0, t0.AddHours(-1)));
        Assert.Equal(events[0].Position, await log.FindPositionAsync(0, t0));
        Assert.Equal(events[8].Position, await log.FindPositionAsync(0, t0.AddMinutes(7.5)));
        Assert.Equal(events[13].Position, await log.FindPositionAsync(0, t0.AddMinutes(13)));
        Assert.Equal(events[19].Position, await log.FindPositionAsync(0, t0.AddMinutes(19)));
        Assert.Equal(end, await log.FindPositionAsync(0, t0.AddHours(1)));

        // Reading from a found position continues there.
        var from = await log.FindPositionAsync(0, t0.AddMinutes(15));
        var (rest, _) = await ReadAllAsync(log, 0, from);
        Assert.Equal(new[] { 15, 16, 17, 18, 19 }, rest.Select(e => Identify(e).Sequence));
    }

    [Fact]
    public async Task Appends_larger_than_a_block_or_a_segment_are_split_and_rolled_over()
    {
        var container = NewContainer();
        var log = new BlobLog(container, new BlobLogOptions { Name = LogName, Partitions = 1, SegmentMaxBytes = 16 * 1024, MaxAppendBytes = 8 * 1024 });
        await log.OpenAsync();
        // 30 events of 1 KiB in one call: several blocks; then one event larger than a whole segment.
        await log.AppendAsync(0, Enumerable.Range(0, 30).Select(i => Event(0, i, size: 1024)).ToList());
        await log.AppendAsync(0, [Event(0, 30, size: 40 * 1024)]);
        await log.AppendAsync(0, [Event(0, 31, size: 100)]);

        var (events, _) = await ReadAllAsync(await OpenAsync(container, partitions: 1), 0, LogPosition.Start);
        Assert.Equal(Enumerable.Range(0, 32), events.Select(e => Identify(e).Sequence));
        Assert.All(events, e => AssertIsEvent(e, Event(0, Identify(e).Sequence, size: e.Body.Length)));
        Assert.True((await log.ListSegmentsAsync(0)).Count >= 3);
    }

    [Fact]
    public async Task Retention_deletes_only_old_sealed_segments_before_the_checkpoint()
    {
        var container = NewContainer();
        var log = await OpenAsync(container, segmentMaxBytes: 8 * 1024);
        for (int i = 0; i < 30; i++)
        {
            await log.AppendAsync(0, [Event(0, i, size: 1024)]);
        }

        var (events, _) = await ReadAllAsync(log, 0, LogPosition.Start);
        var segmentsBefore = await log.ListSegmentsAsync(0);
        Assert.True(segmentsBefore.Count >= 3);
        var checkpoint = events[^2].Position;
        int checkpointSegment = BlobLog.Unpack(checkpoint).Segment;
        Assert.True(checkpointSegment >= 2);

        Assert.Equal(0, await log.Retention.DeleteBeforeAsync(0, LogPosition.Start, DateTimeOffset.UtcNow.AddHours(1)));
        Assert.Equal(0, await log.Retention.DeleteBeforeAsync(0, checkpoint, DateTimeOffset.UtcNow.AddHours(-1)));
        Assert.Equal(segmentsBefore, await log.ListSegmentsAsync(0));

        int deleted = await log.Retention.DeleteBeforeAsync(0, checkpoint, DateTimeOffset.UtcNow.AddMinutes(5));
        Assert.Equal(segmentsBefore.Count(s => s < checkpointSegment), deleted);
        Assert.Equal(segmentsBefore.Where(s => s >= checkpointSegment), await log.ListSegmentsAsync(0));

        // Readers start at the oldest remaining segment, from the start or from a deleted position.
        var (remaining, _) = await ReadAllAsync(await OpenAsync(container), 0, LogPosition.Start);
        Assert.Equal(events.Where(e => BlobLog.Unpack(e.Position).Segment >= checkpointSegment).Select(e => e.Position), remaining.Select(e => e.Position));
        var (fromDeleted, _) = await ReadAllAsync(await OpenAsync(container), 0, events[0].Position);
        Assert.Equal(remaining.Select(e => e.Position), fromDeleted.Select(e => e.Position));
    }
}
