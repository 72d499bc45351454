using System.Buffers;

namespace ServerlessOtlp.Otlp.Wire;

/// <summary>One output record of a split: a complete top-level <c>Resource{Spans,Metrics,Logs}</c> field.</summary>
public readonly record struct SplitRecord(int Partition, int Offset, int Length, int Items);

/// <summary>
/// The outcome of splitting one export request: per-partition records in one pooled buffer.
/// Concatenating the records of a partition gives a valid export request of the same signal.
/// </summary>
public sealed class SplitResult : IDisposable
{
    private SplitRecord[] _records = ArrayPool<SplitRecord>.Shared.Rent(16);

    internal SplitResult(int initialCapacity, int maxCapacity)
    {
        Buffer = new PooledBuffer(initialCapacity, maxCapacity);
    }

    public PooledBuffer Buffer { get; }

    public int RecordCount { get; private set; }

    public ReadOnlySpan<SplitRecord> Records => _records.AsSpan(0, RecordCount);

    /// <summary>Items accepted (spans, metric data points, log records).</summary>
    public int AcceptedItems { get; internal set; }

    /// <summary>Items rejected (spans with an invalid trace id, items too large for an event); reported as partial success.</summary>
    public int RejectedItems { get; internal set; }

    /// <summary>Of <see cref="RejectedItems"/>, those that cannot fit an event even alone with their resource and scope.</summary>
    public int OversizedItems { get; internal set; }

    public string? RejectionMessage { get; internal set; }

    /// <summary>The request's size, which bounds the output (<see cref="OtlpSplitter.OutputBound"/>).</summary>
    public int InputBytes { get; internal set; }

    public ReadOnlyMemory<byte> RecordBytes(in SplitRecord record) => Buffer.WrittenMemory.Slice(record.Offset, record.Length);

    internal void Add(SplitRecord record)
    {
        if (RecordCount == _records.Length)
        {
            var bigger = ArrayPool<SplitRecord>.Shared.Rent(_records.Length * 2);
            _records.AsSpan(0, RecordCount).CopyTo(bigger);
            ArrayPool<SplitRecord>.Shared.Return(_records);
            _records = bigger;
        }

        _records[RecordCount++] = record;
    }

    public void Dispose()
    {
        Buffer.Dispose();
        if (_records.Length > 0)
        {
            ArrayPool<SplitRecord>.Shared.Return(_records);
            _records = [];
        }
    }
}

/// <summary>
/// A request whose split would be larger than <see cref="OtlpSplitter.OutputBound"/>, or that holds more
/// than <see cref="OtlpSplitter.MaxItemsPerRequest"/> items: refused for good (413 / RESOURCE_EXHAUSTED
/// without RetryInfo), never retried, and no memory beyond the bound was asked for.
/// </summary>
public sealed class SplitTooLargeException(string message) : Exception(message);
