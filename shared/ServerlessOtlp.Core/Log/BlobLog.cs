using System.Buffers;
using System.Collections.Concurrent;
using System.Text.Json;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ServerlessOtlp.Log;

internal sealed class BlobLogOptions
{
    /// <summary>Log name: the folder in the container, and the key of checkpoints and leases.</summary>
    public string Name { get; set; } = "otlp";

    /// <summary>Partition count written to the log's metadata when this process creates the log; an existing log's count wins.</summary>
    public int Partitions { get; set; } = 8;

    /// <summary>A segment is sealed once it would pass this size; readers then move to the next one.</summary>
    public long SegmentMaxBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Append Block accepts at most 4 MiB per call on every service version Azurite and Azure share.</summary>
    public int MaxAppendBytes { get; set; } = 4 * 1024 * 1024;
}

/// <summary>
/// The partitioned log on Blob storage: per partition a series of append blobs (segments), each
/// append one or more framed records (<see cref="BlobLogRecord"/>). Several writers append at
/// once. A writer that meets a full or sealed segment seals it and moves to the next; a reader
/// leaves a segment only after seeing it sealed and reading it to its end, so no late record is
/// skipped. A record's position is the byte offset at which the reader found it (never the offset
/// an append returns: Azurite computes that before writing). This class lays segments out and
/// appends; reading is <see cref="BlobLogReader"/>'s, deleting <see cref="BlobLogRetention"/>'s.
/// </summary>
internal sealed class BlobLog : IPartitionedLog
{
    private const int OffsetBits = 40;
    private const long OffsetMask = (1L << OffsetBits) - 1;
    private const int MaxSegmentNumber = 1 << 22;

    private readonly BlobContainerClient _container;
    private readonly BlobLogOptions _options;
    private readonly ILogger _logger;
    private readonly Guid _writerId = Guid.NewGuid();
    private readonly ConcurrentDictionary<int, PartitionWriter> _writers = new();
    private readonly BlobLogReader _reader;
    private int _partitionCount;

    public BlobLog(BlobContainerClient container, BlobLogOptions? options = null, ILogger<BlobLog>? logger = null)
    {
        _container = container;
        _options = options ?? new BlobLogOptions();
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        Retention = new BlobLogRetention(this);
        _reader = new BlobLogReader(this, _logger);
    }

    private BlobLog(BlobLog other)
    {
        _container = other._container;
        _options = other._options;
        _logger = other._logger;
        _partitionCount = other._partitionCount;
        Retention = other.Retention;
        _reader = new BlobLogReader(this, _logger);
    }

    public string Name => "blob:" + _options.Name;

    /// <summary>
    /// Another reader of the same (opened) log. Read state is per partition and per instance, for one
    /// continuous read at a time: a second drain of a partition in this process, such as a tenant's
    /// replay cursor beside the live drain, reads through its own.
    /// </summary>
    public IPartitionedLog OpenSideReader() => new BlobLog(this);

    /// <summary>Sealed segments are deleted by the Retention timer; nothing else removes them.</summary>
    public ILogRetention Retention { get; }

    /// <inheritdoc/>
    public string? ConsumerGroup => null;

    public int PartitionCount => _partitionCount > 0 ? _partitionCount : throw new InvalidOperationException("call OpenAsync first");

    public static LogPosition Pack(int segment, long offset) => new(((long)segment << OffsetBits) | offset);

    public static (int Segment, long Offset) Unpack(LogPosition p) => p.IsStart ? (0, 0) : ((int)(p.Value >> OffsetBits), p.Value & OffsetMask);

    public async Task OpenAsync(CancellationToken cancellationToken = default)
    {
        await _container.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
        var meta = _container.GetBlobClient($"{_options.Name}/meta.json");
        try
        {
            var body = JsonSerializer.SerializeToUtf8Bytes(new LogMetadata(_options.Partitions, EventProperties.CurrentFormatVersion, DateTimeOffset.UtcNow), CoreJsonContext.Default.LogMetadata);
            await meta.UploadAsync(new BinaryData(body), new BlobUploadOptions { Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All } }, cancellationToken);
        }
        catch (RequestFailedException ex) when (ex.Status is 409 or 412)
        {
            // The log exists: its recorded partition count is the truth.
        }

        var existing = await meta.DownloadContentAsync(cancellationToken);
        var recorded = existing.Value.Content.ToObjectFromJson(CoreJsonContext.Default.LogMetadata)
                       ?? throw new InvalidDataException($"{meta.Name} is empty");
        if (recorded.Partitions < 1)
        {
            throw new InvalidDataException($"{meta.Name} records {recorded.Partitions} partitions");
        }

        if (recorded.Partitions != _options.Partitions)
        {
            _logger.LogInformation("Log {Log} has {Recorded} partitions (configured {Configured}); using the recorded count", _options.Name, recorded.Partitions, _options.Partitions);
        }

        _partitionCount = recorded.Partitions;
    }

    internal AppendBlobClient Segment(int partition, int segment) =>
        _container.GetAppendBlobClient($"{_options.Name}/p{partition:D5}/{segment:D10}");

    private string PartitionPrefix(int partition) => $"{_options.Name}/p{partition:D5}/";

    /// <summary>Segment numbers that exist for a partition, ascending.</summary>
    public async Task<List<int>> ListSegmentsAsync(int partition, CancellationToken cancellationToken = default)
    {
        var list = new List<int>();
        string prefix = PartitionPrefix(partition);
        await foreach (var item in _container.GetBlobsAsync(BlobTraits.None, BlobStates.None, prefix, cancellationToken))
        {
            if (int.TryParse(item.Name.AsSpan(prefix.Length), out int n))
            {
                list.Add(n);
            }
        }

        list.Sort();
        return list;
    }

    public async Task AppendAsync(int partition, IReadOnlyList<LogEvent> events, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(partition);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(partition, PartitionCount);
        if (events.Count == 0)
        {
            return;
        }

        var writer = _writers.GetOrAdd(partition, _ => new PartitionWriter());
        // One append in flight per partition and writer: a retried append then always precedes
        // this writer's next sequence number, which is what lets readers drop the duplicate.
        await writer.Lock.WaitAsync(cancellationToken);
        try
        {
            if (writer.Segment < 0)
            {
                var segments = await ListSegmentsAsync(partition, cancellationToken);
                writer.Segment = segments.Count == 0 ? 0 : segments[^1];
            }

            int i = 0;
            while (i < events.Count)
            {
                if (BlobLogRecord.SizeOf(events[i]) > BlobLogRecord.MaxRecordSize)
                {
                    throw new LogAppendException(i, refused: true, $"event of {events[i].Body.Length} bytes is larger than a blob log record may be ({BlobLogRecord.MaxRecordSize} bytes)");
                }

                int size = 0;
                int j = i;
                while (j < events.Count && (j == i || (size + BlobLogRecord.SizeOf(events[j]) <= _options.MaxAppendBytes && BlobLogRecord.SizeOf(events[j]) <= BlobLogRecord.MaxRecordSize)))
                {
                    size += BlobLogRecord.SizeOf(events[j]);
                    j++;
                }

                var buffer = ArrayPool<byte>.Shared.Rent(size);
                try
                {
                    int w = 0;
                    for (int k = i; k < j; k++)
                    {
                        w += BlobLogRecord.Write(buffer.AsSpan(w), events[k], _writerId, ++writer.Sequence);
                    }

                    try
                    {
                        await AppendBlockAsync(partition, writer, buffer.AsMemory(0, w), cancellationToken);
                    }
                    catch (Exception ex)
                    {
                        // Blocks are appended in order: the events of the blocks before this one are durable.
                        throw new LogAppendException(i, refused: false, "blob log append failed: " + ex.Message, ex);
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }

                i = j;
            }
        }
        finally
        {
            writer.Lock.Release();
        }
    }

    private async Task AppendBlockAsync(int partition, PartitionWriter writer, ReadOnlyMemory<byte> block, CancellationToken cancellationToken)
    {
        for (int attempt = 0; ; attempt++)
        {
            if (writer.Segment >= MaxSegmentNumber)
            {
                throw new InvalidOperationException($"partition {partition} has run out of segment numbers");
            }

            var blob = Segment(partition, writer.Segment);
            try
            {
                using var stream = new ReadOnlyMemoryStream(block);
                await blob.AppendBlockAsync(
                    stream,
                    new AppendBlobAppendBlockOptions
                    {
                        Conditions = new AppendBlobRequestConditions { IfMaxSizeLessThanOrEqual = Math.Max(_options.SegmentMaxBytes, block.Length) },
                    },
                    cancellationToken);
                return;
            }
            catch (RequestFailedException ex) when (ex.Status == 404)
            {
                await blob.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
            }
            catch (RequestFailedException ex) when (ex.ErrorCode == "MaxBlobSizeConditionNotMet" || (ex.Status == 412 && ex.ErrorCode != "ConditionNotMet"))
            {
                // Full: seal it so that readers know it is complete, then move on.
                await SealAsync(blob, cancellationToken);
                writer.Segment++;
            }
            catch (RequestFailedException ex) when (ex.Status == 409 && (ex.ErrorCode == "BlobIsSealed" || ex.Message.Contains("sealed", StringComparison.OrdinalIgnoreCase)))
            {
                writer.Segment++;
            }

            if (attempt > 64)
            {
                throw new InvalidOperationException($"could not append to partition {partition} after {attempt} attempts");
            }
        }
    }

    private static async Task SealAsync(AppendBlobClient blob, CancellationToken cancellationToken)
    {
        try
        {
            await blob.SealAsync(cancellationToken: cancellationToken);
        }
        catch (RequestFailedException ex) when (ex.Status is 409 or 404)
        {
            // Already sealed by another writer (or removed by retention).
        }
    }

    /// <summary>Reads through this instance's read state (<see cref="BlobLogReader"/>); the fencing token is not needed, as a stale drain is fenced by the checkpoint's ETag.</summary>
    public Task<ReadBatch> ReadAsync(int partition, LogPosition from, int maxEvents, int maxBytes, FencingToken fence, CancellationToken cancellationToken = default) =>
        _reader.ReadAsync(partition, from, maxEvents, maxBytes, cancellationToken);

    public async Task<LogPosition> GetEndAsync(int partition, CancellationToken cancellationToken = default)
    {
        var segments = await ListSegmentsAsync(partition, cancellationToken);
        if (segments.Count == 0)
        {
            return Pack(0, 0);
        }

        int last = segments[^1];
        try
        {
            var props = (await Segment(partition, last).GetPropertiesAsync(cancellationToken: cancellationToken)).Value;
            return props.IsSealed ? Pack(last + 1, 0) : Pack(last, props.ContentLength);
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return Pack(last, 0);
        }
    }

    public long Lag(LogPosition checkpoint, LogPosition end)
    {
        var (cs, co) = Unpack(checkpoint);
        var (es, eo) = Unpack(end);
        long lag = ((long)(es - cs) * _options.SegmentMaxBytes) + (eo - co);
        return Math.Max(0, lag);
    }

    public async Task<LogPosition> FindPositionAsync(int partition, DateTimeOffset time, CancellationToken cancellationToken = default)
    {
        var pos = LogPosition.Start;
        while (true)
        {
            var batch = await ReadAsync(partition, pos, 256, 4 * 1024 * 1024, FencingToken.None, cancellationToken);
            foreach (var e in batch.Events)
            {
                if (e.Properties != null && e.Properties.ReceivedAt >= time)
                {
                    return e.Position;
                }
            }

            if (batch.Events.Count == 0 || batch.Next == pos)
            {
                return batch.Next;
            }

            pos = batch.Next;
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private sealed class PartitionWriter
    {
        public readonly SemaphoreSlim Lock = new(1, 1);
        public int Segment = -1;
        public ulong Sequence;
    }

    internal sealed record LogMetadata(int Partitions, int Format, DateTimeOffset Created);

    /// <summary>A read-only stream over memory, so an append uploads without a copy.</summary>
    private sealed class ReadOnlyMemoryStream(ReadOnlyMemory<byte> memory) : Stream
    {
        private int _pos;

        public override bool CanRead => true;

        public override bool CanSeek => true;

        public override bool CanWrite => false;

        public override long Length => memory.Length;

        public override long Position { get => _pos; set => _pos = (int)value; }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int n = Math.Min(buffer.Length, memory.Length - _pos);
            memory.Span.Slice(_pos, n).CopyTo(buffer);
            _pos += n;
            return n;
        }

        public override long Seek(long offset, SeekOrigin origin)
        {
            _pos = (int)(origin switch { SeekOrigin.Begin => offset, SeekOrigin.Current => _pos + offset, _ => memory.Length + offset });
            return _pos;
        }

        public override void Flush()
        {
        }

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
