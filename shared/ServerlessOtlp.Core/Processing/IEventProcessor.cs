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
}
