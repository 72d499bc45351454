using ServerlessOtlp.Log;

namespace ServerlessOtlp.Processing;

/// <summary>Limits the drain gives a deferring processor for one claimed partition (from <see cref="DrainOptions"/>).</summary>
/// <param name="PartitionCount">The log's partitions: a tenant-wide rate is shared over them.</param>
/// <param name="MaxBufferedSpans">Beyond this many deferred items the oldest are decided early.</param>
/// <param name="DecisionCacheSize">Recent decisions remembered for items that arrive after them.</param>
public sealed record DeferralLimits(int PartitionCount, int MaxBufferedSpans, int DecisionCacheSize);

/// <summary>What a flush of deferred items did: dead letters written, and whether a destination failed so the drain must retry later.</summary>
public readonly record struct FlushOutcome(int DeadLettered, bool RetryLater);

/// <summary>
/// The hook of an <see cref="IEventProcessor"/> that holds items back after it returned an
/// event's fate (tail sampling buffers spans until their trace is decided). Such an event is
/// settled for reading but not for the checkpoint: the drain checkpoints at most at
/// <see cref="PendingFloor"/>, calls <see cref="FlushDueAsync"/> after every batch and while the
/// log is at its end, and on a graceful end keeps flushing until nothing is pending. Deferred
/// items live in memory only; on a lost lease or a crash the next owner re-reads them from the
/// checkpoint.
/// </summary>
public interface IEventDeferral
{
    /// <summary>Forgets every deferred item and decision of <paramref name="partition"/> and starts it over with <paramref name="limits"/>; called on claim and when the drain ends.</summary>
    void Reset(int partition, DeferralLimits? limits);

    /// <summary>The lowest position of an event whose items are still deferred; null when none are.</summary>
    LogPosition? PendingFloor(int partition);

    bool HasPending(int partition);

    /// <summary>
    /// Decides and delivers the deferred items that are due. While a backlog is read, "now" is the
    /// latest received-at read (so a replay decides as the live drain did); at the end of the log
    /// (<paramref name="endOfLog"/>) it is the later of that and <paramref name="now"/>, so the last
    /// traces are decided by the clock although nothing new arrives.
    /// </summary>
    Task<FlushOutcome> FlushDueAsync(int partition, DateTimeOffset now, bool endOfLog, CancellationToken cancellationToken = default);
}
