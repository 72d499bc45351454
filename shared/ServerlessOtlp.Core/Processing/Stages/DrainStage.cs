using Google.Protobuf;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp.Wire;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Processing.Stages;

/// <summary>
/// One stage of the tenant pipeline behind the drain, chained like a Collector processor: it does
/// its part on the event and hands it to the next stage, or ends it there with its fate (dropped,
/// dead-lettered, held back). Stages never throw for bad data.
/// </summary>
internal interface IDrainStage
{
    Task<EventFate> ProcessAsync(EventContext item, CancellationToken cancellationToken);
}

/// <summary>
/// What travels down the stages for one event (or one tail-sampled set of traces): the tenant,
/// where it was read, the decoded request once there is one, and the fate so far. One small
/// object per event; stages change it in place.
/// </summary>
internal sealed class EventContext(TenantConfig tenant, int partition, ReadEvent logEvent)
{
    private static readonly Task<EventFate> DeliveredTask = Task.FromResult(EventFate.Delivered);
    private static readonly Task<EventFate> DeadLetteredTask = Task.FromResult(EventFate.DeadLettered);
    private static readonly Task<EventFate> RetryLaterTask = Task.FromResult(EventFate.RetryLater);

    private Action<long, EventProperties>? _workDone;
    private long _started;

    public TenantConfig Tenant { get; } = tenant;

    public int Partition { get; } = partition;

    /// <summary>The event as read; wire sampling replaces its body with the kept part.</summary>
    public ReadEvent Event { get; set; } = logEvent;

    public EventProperties Properties => Event.Properties!;

    /// <summary>The decoded request (set by the decode stage); stages may replace it.</summary>
    public IMessage? Message { get; set; }

    /// <summary>The protobuf of <see cref="Message"/> as it is now: what dead letters and exports carry.</summary>
    public ReadOnlyMemory<byte> Bytes { get; set; }

    /// <summary>The fate so far: dead-lettered when part of the event could not be decoded.</summary>
    public EventFate Fate { get; set; } = EventFate.Delivered;

    /// <summary>The wire-sampled body, returned to its pool when the event's processing ends.</summary>
    public PooledBuffer? SampledBody { get; set; }

    /// <summary>
    /// Starts timing the local work of a drained event (not of a tail-sampled trace, whose work is
    /// the flush's): <paramref name="done"/> gets the start once, at the first <see cref="WorkDone"/>.
    /// </summary>
    public void TimeLocalWork(long started, Action<long, EventProperties> done)
    {
        _started = started;
        _workDone = done;
    }

    /// <summary>Ends the local work, if it is timed and not ended yet: where the hand-over to destinations (or an early end) is.</summary>
    public void WorkDone()
    {
        if (_workDone is { } done)
        {
            _workDone = null;
            done(_started, Properties);
        }
    }

    /// <summary>A completed task of a fate, without allocating one per event.</summary>
    public static Task<EventFate> Completed(EventFate fate) => fate switch
    {
        EventFate.Delivered => DeliveredTask,
        EventFate.DeadLettered => DeadLetteredTask,
        _ => RetryLaterTask,
    };
}
