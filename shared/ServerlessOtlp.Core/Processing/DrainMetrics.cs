using System.Diagnostics.Metrics;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Performance;

namespace ServerlessOtlp.Processing;

/// <summary>
/// The drains' latencies (meter <c>ServerlessOtlp.Drain</c>), in seconds from the gateway's received-at stamp:
/// <c>otlp_drain_queue_wait</c> (until a drain read the event) and <c>otlp_drain_end_to_end</c> (until the
/// checkpoint passed it: every destination acknowledged it, or it was parked or dead-lettered). Items a tail
/// sampling policy defers are checkpointed later and not in the second. Labelled by signal only: per-tenant
/// detail would need a capped label (issue 16).
/// </summary>
public sealed class DrainMetrics : IDisposable
{
    public const string MeterName = "ServerlessOtlp.Drain";

    /// <summary>Explicit boundaries from 0.5 ms to 60 s (Prometheus text has no exponential histograms); the gateway's too.</summary>
    public static readonly InstrumentAdvice<double> LatencyBuckets = new()
    {
        HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    };

    private readonly Meter _meter;
    private readonly Histogram<double> _queueWait;
    private readonly Histogram<double> _endToEnd;

    public DrainMetrics(IMeterFactory? factory = null)
    {
        _meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        _queueWait = _meter.CreateHistogram("otlp_drain_queue_wait", "s", "Time from the gateway's receipt of an event to a drain reading it", advice: LatencyBuckets);
        _endToEnd = _meter.CreateHistogram("otlp_drain_end_to_end", "s", "Time from the gateway's receipt of an event to the checkpoint passing it (delivered, parked or dead-lettered)", advice: LatencyBuckets);
    }

    /// <summary>This instance's meter (tests listen to it alone).</summary>
    internal Meter Meter => _meter;

    /// <param name="also">The node's recorder of the same latency for the performance model (component <c>queueWait</c>).</param>
    public void Read(IReadOnlyList<ReadEvent> events, DateTimeOffset now, ComponentRecorder? also = null) => Record(_queueWait, also, events, new LogPosition(long.MaxValue), now);

    /// <summary>Records the events below <paramref name="checkpoint"/>.</summary>
    /// <param name="also">The node's recorder of the same latency for the performance model (component <c>endToEnd</c>).</param>
    public void Settled(IReadOnlyList<ReadEvent> events, LogPosition checkpoint, DateTimeOffset now, ComponentRecorder? also = null) => Record(_endToEnd, also, events, checkpoint, now);

    public void Dispose() => _meter.Dispose();

    private static void Record(Histogram<double> histogram, ComponentRecorder? also, IReadOnlyList<ReadEvent> events, LogPosition below, DateTimeOffset now)
    {
        bool enabled = histogram.Enabled;
        if (!enabled && also == null)
        {
            return;
        }

        foreach (var e in events)
        {
            if (e.Position >= below)
            {
                break;
            }

            if (e.Properties is { } p)
            {
                var elapsed = now > p.ReceivedAt ? now - p.ReceivedAt : TimeSpan.Zero;
                if (enabled)
                {
                    histogram.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("signal", p.Signal.ToName()));
                }

                also?.Record(elapsed, p.ItemCount);
            }
        }
    }
}
