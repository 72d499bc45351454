namespace ServerlessOtlp.Processing;

/// <summary>Settings of the drain engine (<c>ServerlessOtlp:Drain</c>).</summary>
public sealed class DrainOptions
{
    public const string Section = "ServerlessOtlp:Drain";

    /// <summary>Consumer group that keys checkpoints and leases (and the Event Hubs receiver).</summary>
    public string ConsumerGroup { get; set; } = "$Default";

    /// <summary>A lease not renewed for this long may be taken by another instance.</summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Events per read.</summary>
    public int BatchMaxEvents { get; set; } = 256;

    /// <summary>Bytes per read.</summary>
    public int BatchMaxBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>
    /// Process-wide cap on event bytes read and not yet settled, shared by every drain in the
    /// process. A drain waits for budget before it reads; an event larger than the whole budget is
    /// read alone while its drain holds all of it, so a partition never stalls on it.
    /// </summary>
    public long MemoryBudgetBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>How long one drain job may run before it hands over (Functions have a time limit).</summary>
    public TimeSpan TimeBudget { get; set; } = TimeSpan.FromMinutes(4);

    /// <summary>A drain with nothing new to read for this long ends and releases its lease.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Pause between reads of a partition that had nothing new.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Cap on the export time of one batch. Kept below half the lease TTL so that a slow export
    /// cannot outlive the lease it runs under.
    /// </summary>
    public TimeSpan ExportTimeout { get; set; } = TimeSpan.FromSeconds(12);

    /// <summary>
    /// Tail sampling: most spans buffered per partition while their traces wait for a decision.
    /// Beyond it the oldest traces are decided early (counted in <c>otlp_tail_decided_early</c>),
    /// never dropped undecided. About 1 KB of memory per span.
    /// </summary>
    public int TailMaxBufferedSpans { get; set; } = 100_000;

    /// <summary>Tail sampling: recent trace decisions remembered per partition for late spans (LRU).</summary>
    public int TailDecisionCacheSize { get; set; } = 100_000;

    /// <summary>This instance's id: the lease owner and the heartbeat row.</summary>
    public string OwnerId { get; set; } = $"drain-{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}";

    /// <summary>
    /// The consumer group that keys <paramref name="log"/>'s checkpoints and leases: the log's own where it
    /// has one (Event Hubs: its receivers read in it), else <paramref name="configured"/>.
    /// </summary>
    public static string LiveConsumerGroup(Log.IPartitionedLog log, string configured) =>
        log.ConsumerGroup ?? configured;

    /// <summary>A copy of these settings for another consumer group (a tenant's replay cursor).</summary>
    public DrainOptions ForConsumerGroup(string consumerGroup)
    {
        var copy = (DrainOptions)MemberwiseClone();
        copy.ConsumerGroup = consumerGroup;
        return copy;
    }

    public void Validate()
    {
        if (ExportTimeout >= LeaseTtl / 2)
        {
            throw new InvalidOperationException($"Drain:ExportTimeout ({ExportTimeout}) must be below half the lease TTL ({LeaseTtl})");
        }

        if (BatchMaxEvents < 1 || BatchMaxBytes < 1024)
        {
            throw new InvalidOperationException("Drain:BatchMaxEvents must be ≥ 1 and BatchMaxBytes ≥ 1024");
        }

        if (MemoryBudgetBytes < 1024)
        {
            throw new InvalidOperationException("Drain:MemoryBudgetBytes must be ≥ 1024");
        }

        if (TailMaxBufferedSpans < 1 || TailDecisionCacheSize < 0)
        {
            throw new InvalidOperationException("Drain:TailMaxBufferedSpans must be ≥ 1 and TailDecisionCacheSize ≥ 0");
        }
    }
}
