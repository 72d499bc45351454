namespace ServerlessOtlp.EventHubsEmulator;

/// <summary>A partition as the emulator holds it right now, for tests to inspect.</summary>
/// <param name="BeginSequenceNumber">The first retained event's sequence number, or the next one when none is retained.</param>
/// <param name="LastEnqueuedSequenceNumber">-1 when the partition never had an event.</param>
public sealed record PartitionSnapshot(
    string PartitionId,
    long BeginSequenceNumber,
    long LastEnqueuedSequenceNumber,
    int RetainedEvents,
    bool IsEmpty);

/// <summary>The readers attached to one partition in one consumer group.</summary>
/// <param name="OwnerLevel">The owner level (epoch) holding the partition, or null when no reader has one.</param>
public sealed record ReaderSnapshot(int Count, long? OwnerLevel);
