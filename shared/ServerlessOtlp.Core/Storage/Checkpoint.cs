using Azure;

namespace ServerlessOtlp.Storage;

/// <summary>
/// A partition's checkpoint as stored. <see cref="Position"/> is the NEXT position to read;
/// -1 means the start of the log. A missing row reads as Position -1, Epoch 0, default ETag.
/// </summary>
public sealed record Checkpoint(
    int Partition,
    long Position,
    string? Owner,
    long Epoch,
    DateTimeOffset? UpdatedAt,
    string? UpdatedBy,
    string? State,
    ETag ETag)
{
    /// <summary>Position of a partition that has no checkpoint: read from the start of the log.</summary>
    public const long StartOfLog = -1;

    /// <summary>The last audited replay, when there was one.</summary>
    public ReplayAudit? LastReplay { get; init; }

    public static Checkpoint Missing(int partition) =>
        new(partition, StartOfLog, null, 0, null, null, null, default);
}

/// <summary>Who moved a checkpoint through <see cref="CheckpointStore.ReplayAsync"/>, when, and from where to where.</summary>
public sealed record ReplayAudit(string By, DateTimeOffset At, long From, long To, long Count);

/// <summary>
/// The right to move one partition's checkpoint, obtained by <see cref="CheckpointStore.FenceAsync"/>.
/// It carries the ETag of the row as last written by its owner; every update is conditional on
/// it. Used by one drainer at a time (not thread-safe).
/// </summary>
public sealed class FencedCheckpoint
{
    public FencedCheckpoint(string log, string group, int partition, string owner, long epoch, long position, string? state, ETag etag)
    {
        Log = log;
        Group = group;
        Partition = partition;
        Owner = owner;
        Epoch = epoch;
        Position = position;
        State = state;
        ETag = etag;
    }

    public string Log { get; }

    public string Group { get; }

    public int Partition { get; }

    public string Owner { get; }

    public long Epoch { get; }

    /// <summary>The next position to read, as last written or read under this fence.</summary>
    public long Position { get; private set; }

    /// <summary>The opaque state snapshot stored with the checkpoint (for example delta-to-cumulative state).</summary>
    public string? State { get; private set; }

    public ETag ETag { get; private set; }

    internal void Advance(long position, string? state, ETag etag)
    {
        Position = position;
        if (state != null)
        {
            State = state;
        }

        ETag = etag;
    }
}
