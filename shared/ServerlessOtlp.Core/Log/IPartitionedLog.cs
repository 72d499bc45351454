namespace ServerlessOtlp.Log;

/// <summary>
/// The durable, partitioned log between the gateway and the drains: Azure Event Hubs in the
/// cloud, the blob log on Azurite locally, memory in unit tests and benchmarks.
/// </summary>
public interface IPartitionedLog : IAsyncDisposable
{
    /// <summary>A name for the log, used to key checkpoints and leases.</summary>
    string Name { get; }

    /// <summary>The partition count recorded with the log; valid after <see cref="OpenAsync"/>.</summary>
    int PartitionCount { get; }

    /// <summary>Connects and reads (or, where the log creates itself, records) the partition count.</summary>
    Task OpenAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Appends events to one partition, in order. Completes only when every event is durable. On
    /// failure it throws <see cref="LogAppendException"/> saying how many leading events are durable
    /// and whether the next one was refused for good (too large); any other exception means none
    /// may be treated as acknowledged.
    /// </summary>
    Task AppendAsync(int partition, IReadOnlyList<LogEvent> events, CancellationToken cancellationToken = default);

    /// <summary>Reads events at or after <paramref name="from"/>, up to the given count and bytes.</summary>
    /// <param name="fence">The reader's fencing token (<see cref="FencingToken.None"/> when it holds no lease); a log may cut off readers with a lower one.</param>
    Task<ReadBatch> ReadAsync(int partition, LogPosition from, int maxEvents, int maxBytes, FencingToken fence, CancellationToken cancellationToken = default);

    /// <summary>The position just after the last event written to the partition.</summary>
    Task<LogPosition> GetEndAsync(int partition, CancellationToken cancellationToken = default);

    /// <summary>How far <paramref name="checkpoint"/> is behind <paramref name="end"/>, in the log's unit (events or bytes); 0 when caught up.</summary>
    long Lag(LogPosition checkpoint, LogPosition end);

    /// <summary>Finds the first position whose events were received at or after <paramref name="time"/> (for replay).</summary>
    Task<LogPosition> FindPositionAsync(int partition, DateTimeOffset time, CancellationToken cancellationToken = default);
}
