using ServerlessOtlp.Log;

namespace ServerlessOtlp.Processing;

/// <summary>What happened to one event.</summary>
public enum EventFate
{
    /// <summary>Every destination took it, or parked it in the retry store (or it had nothing to deliver).</summary>
    Delivered,

    /// <summary>It cannot be delivered, ever (bad data, unknown tenant, permanent refusal); it is in the dead-letter store.</summary>
    DeadLettered,

    /// <summary>A destination failed transiently and the batch could not be parked: the drain stops before this event and retries later.</summary>
    RetryLater,
}

/// <summary>
/// The tenant pipeline as the drain engine sees it: one event in, its fate out. It never throws
/// for bad data (that is <see cref="EventFate.DeadLettered"/>); exceptions mean the drain must stop.
/// </summary>
public interface IEventProcessor
{
    Task<EventFate> ProcessAsync(int partition, ReadEvent logEvent, CancellationToken cancellationToken = default);

    /// <summary>What the drain calls around the events of a claimed partition; none unless the processor has them.</summary>
    PartitionHooks Hooks => PartitionHooks.None;
}

/// <summary>
/// The partition-scoped hooks of a processor, handed to the drain's partition session as they are
/// (no capability is found by casting): each is optional and the session skips what is absent.
/// </summary>
public sealed record PartitionHooks
{
    public static PartitionHooks None { get; } = new();

    /// <summary>State that travels with the partition's checkpoint (delta → cumulative totals).</summary>
    public IPartitionStateful? State { get; init; }

    /// <summary>Items held back after their event's fate (tail sampling): they hold the checkpoint back.</summary>
    public IEventDeferral? Deferral { get; init; }

    /// <summary>Destination batches across events, flushed before every checkpoint.</summary>
    public IDestinationBuffering? Buffering { get; init; }
}
