using System.Diagnostics;
using System.Diagnostics.Metrics;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Performance;

namespace ServerlessOtlp.Pipeline;

/// <summary>
/// Self-metrics of the tenant pipeline stages (System.Diagnostics.Metrics): items in, out and
/// dropped by reason, per tenant and signal; transform errors; redacted values.
/// </summary>
internal sealed class PipelineMetrics : IDisposable
{
    public const string MeterName = "ServerlessOtlp.Pipeline";

    /// <summary>Reason tag of items dropped by a tenant's filters.</summary>
    public const string ReasonFilter = "filter";

    /// <summary>Reason tag of items of a request whose transform failed (error mode propagate): they go to the dead-letter store.</summary>
    public const string ReasonTransformError = "transform_error";

    /// <summary>Reason tag of spans of traces no tail-sampling policy kept (late spans of such traces included).</summary>
    public const string ReasonTailSampling = "tail_sampling";

    private readonly Meter _meter;
    private readonly Counter<long> _in;
    private readonly Counter<long> _out;
    private readonly Counter<long> _dropped;
    private readonly Counter<long> _errors;
    private readonly Counter<long> _redacted;
    private readonly Counter<long> _tailKept;
    private readonly Counter<long> _tailEarly;
    private readonly Counter<long> _tailLate;
    private readonly Histogram<double> _eventDuration;

    public PipelineMetrics(IMeterFactory? factory = null)
    {
        _meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        _in = _meter.CreateCounter<long>("otlp_pipeline_items_in", "{item}", "Items entering the tenant pipeline (redaction, transforms, filters)");
        _out = _meter.CreateCounter<long>("otlp_pipeline_items_out", "{item}", "Items leaving the tenant pipeline");
        _dropped = _meter.CreateCounter<long>("otlp_pipeline_items_dropped", "{item}", "Items dropped by the tenant pipeline, by reason");
        _errors = _meter.CreateCounter<long>("otlp_pipeline_transform_errors", "{error}", "OTTL evaluation errors, by error mode");
        _redacted = _meter.CreateCounter<long>("otlp_pipeline_values_redacted", "{value}", "Values masked by redaction presets");
        _tailKept = _meter.CreateCounter<long>("otlp_tail_items_kept", "{item}", "Spans of traces a tail-sampling policy kept");
        _tailEarly = _meter.CreateCounter<long>("otlp_tail_decided_early", "{trace}", "Traces decided before their decision wait because the partition's buffer was full");
        _eventDuration = _meter.CreateHistogram("otlp_pipeline_event_duration", "s", "A drain's local work on one event: tenant lookup, sampling, decoding, deferral, transforms, routing (not its exports)", advice: Processing.DrainMetrics.LatencyBuckets);
        _tailLate = _meter.CreateCounter<long>("otlp_tail_late_spans", "{item}", "Spans that arrived after their trace's decision and followed the cached decision, by decision");
    }

    public void Record(string tenant, Signal signal, in TransformResult result)
    {
        var tags = new TagList { { "tenant", TenantLabel.Shared.Of(tenant) }, { "signal", signal.ToName() } };
        _in.Add(result.ItemsIn, tags);
        _out.Add(result.ItemsOut, tags);
        if (result.DroppedByFilter > 0)
        {
            Dropped(tenant, signal, ReasonFilter, result.DroppedByFilter);
        }

        if (result.Failed)
        {
            Dropped(tenant, signal, ReasonTransformError, result.ItemsIn);
        }

        if (result.Errors > 0)
        {
            _errors.Add(result.Errors, tags);
        }

        if (result.Redacted > 0)
        {
            _redacted.Add(result.Redacted, tags);
        }
    }

    public void Dropped(string tenant, Signal signal, string reason, long items) =>
        _dropped.Add(items, new TagList { { "tenant", TenantLabel.Shared.Of(tenant) }, { "signal", signal.ToName() }, { "reason", reason } });

    /// <summary>Tail sampling decided traces of <paramref name="tenant"/>: their spans kept and dropped.</summary>
    public void TailDecided(string tenant, long keptSpans, long droppedSpans, long decidedEarly)
    {
        var tags = new TagList { { "tenant", TenantLabel.Shared.Of(tenant) }, { "signal", Signal.Traces.ToName() } };
        _tailKept.Add(keptSpans, tags);
        if (droppedSpans > 0)
        {
            Dropped(tenant, Signal.Traces, ReasonTailSampling, droppedSpans);
        }

        if (decidedEarly > 0)
        {
            _tailEarly.Add(decidedEarly, tags);
        }
    }

    public void TailLateSpans(string tenant, bool kept, long spans)
    {
        _tailLate.Add(spans, new TagList { { "tenant", TenantLabel.Shared.Of(tenant) }, { "signal", Signal.Traces.ToName() }, { "decision", kept ? "kept" : "dropped" } });
        if (kept)
        {
            _tailKept.Add(spans, new TagList { { "tenant", TenantLabel.Shared.Of(tenant) }, { "signal", Signal.Traces.ToName() } });
        }
        else
        {
            Dropped(tenant, Signal.Traces, ReasonTailSampling, spans);
        }
    }

    /// <summary>One event's local work (the failure detector's measure too), by tenant (capped) and signal.</summary>
    public void EventProcessed(string tenant, Signal signal, TimeSpan elapsed)
    {
        if (_eventDuration.Enabled)
        {
            _eventDuration.Record(elapsed.TotalSeconds, new TagList { { "tenant", TenantLabel.Shared.Of(tenant) }, { "signal", signal.ToName() } });
        }
    }

    public void Dispose() => _meter.Dispose();
}
