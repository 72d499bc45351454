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

    /// <summary>
    /// A reader beside the live drains (replay planning, tenant replay cursors) that never disturbs
    /// them: its own read state, and on Event Hubs receivers without an owner level in the replay
    /// consumer group. Dispose it when done, unless it is this log itself: a log whose reads keep no
    /// state per reader may return itself.
    /// </summary>
    IPartitionedLog OpenSideReader();

    /// <summary>
    /// Deletes old data when asked (the Retention timer), or null for a log that expires its data
    /// itself (Event Hubs) or keeps none beyond the process (memory).
    /// </summary>
    ILogRetention? Retention { get; }

    /// <summary>
    /// The consumer group this log's receivers read in, where the log has its own (Event Hubs); it then
    /// keys checkpoints and leases. Null where a consumer group is only such a key, chosen by configuration.
    /// </summary>
    string? ConsumerGroup { get; }
}

/// <summary>A log's deletion of data every reader is done with (<see cref="IPartitionedLog.Retention"/>).</summary>
public interface ILogRetention
{
    /// <summary>
    /// Deletes data of the partition that lies wholly before <paramref name="keepFrom"/> and was last
    /// written before <paramref name="olderThan"/>, in whatever units the log stores (the blob log: sealed
    /// segments). Nothing at or after <paramref name="keepFrom"/> goes; <see cref="LogPosition.Start"/> keeps all.
    /// </summary>
    /// <returns>How many units were deleted.</returns>
    Task<int> DeleteBeforeAsync(int partition, LogPosition keepFrom, DateTimeOffset olderThan, CancellationToken cancellationToken = default);
}
