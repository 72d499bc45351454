namespace ServerlessOtlp.EventHubsEmulator.Implementation;

/// <summary>
/// The readers of one partition in one consumer group, and the service's owner-level (epoch) rules:
/// a reader with an owner level at least the highest present takes the partition from every other reader;
/// while one holds it, readers with a lower or no owner level are refused; without owner levels at most
/// <see cref="MaxReadersWithoutOwnerLevel"/> read at once.
/// </summary>
internal sealed class ReaderOwnership(string consumerGroup, string partitionId)
{
    /// <summary>The service's quota: five concurrent receivers per partition per consumer group.</summary>
    public const int MaxReadersWithoutOwnerLevel = 5;

    private readonly object gate = new();
    private readonly List<PartitionReader> readers = [];
    private long delivered;

    /// <summary>Events sent to this group's readers of the partition so far (what clients prefetched, read or not).</summary>
    public long Delivered => Interlocked.Read(ref delivered);

    public void CountDelivery() => Interlocked.Increment(ref delivered);

    public string ConsumerGroup { get; } = consumerGroup;

    public string PartitionId { get; } = partitionId;

    /// <summary>
    /// Admits <paramref name="candidate"/> or throws the service's refusal. Returns the readers it displaces;
    /// the caller detaches them outside the lock, since closing a link runs its handlers inline.
    /// </summary>
    public PartitionReader[] Admit(PartitionReader candidate)
    {
        lock (gate)
        {
            long? held = HighestOwnerLevel();
            if (candidate.OwnerLevel is long requested)
            {
                if (held is long current && current > requested)
                {
                    throw ServiceErrors.LowerOwnerLevel(requested, current, PartitionId, ConsumerGroup);
                }

                PartitionReader[] displaced = [.. readers];
                readers.Clear();
                readers.Add(candidate);
                return displaced;
            }

            if (held is long owner)
            {
                throw ServiceErrors.LowerOwnerLevel(null, owner, PartitionId, ConsumerGroup);
            }

            if (readers.Count >= MaxReadersWithoutOwnerLevel)
            {
                throw ServiceErrors.ReaderQuota(MaxReadersWithoutOwnerLevel, PartitionId, ConsumerGroup);
            }

            readers.Add(candidate);
            return [];
        }
    }

    public void Remove(PartitionReader reader)
    {
        lock (gate)
        {
            readers.Remove(reader);
        }
    }

    public (int Count, long? OwnerLevel) Snapshot()
    {
        lock (gate)
        {
            return (readers.Count, HighestOwnerLevel());
        }
    }

    private long? HighestOwnerLevel()
    {
        long? highest = null;
        foreach (PartitionReader reader in readers)
        {
            if (reader.OwnerLevel is long level && (highest is null || level > highest))
            {
                highest = level;
            }
        }

        return highest;
    }
}
