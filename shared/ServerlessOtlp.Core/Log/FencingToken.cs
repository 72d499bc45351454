namespace ServerlessOtlp.Log;

/// <summary>
/// Who may read a partition now, passed with every read: monotonically increasing per partition
/// (the drain takes it from its lease's epoch, which grows with each new owner). A log may use it to
/// cut off stale readers: Event Hubs makes it the receiver's owner level, where a receiver with an
/// equal or higher level takes the partition from a lower one and a lower one is refused. The blob
/// and memory logs ignore it, since a stale drain is fenced by the checkpoint's ETag.
/// </summary>
public readonly record struct FencingToken(long Value)
{
    /// <summary>No token: a reader that never takes a partition from another (side readers, tools, tests).</summary>
    public static FencingToken None => default;

    /// <summary>A lease's token: its epoch.</summary>
    public static FencingToken FromEpoch(long epoch) => new(epoch);

    /// <summary>False for <see cref="None"/> (and for an epoch below 1, which no lease has).</summary>
    public bool IsSet => Value > 0;
}
