using System.Diagnostics;
using System.Diagnostics.Metrics;
using ServerlessOtlp.Otlp;

namespace ServerlessOtlp.Pipeline;

/// <summary>
/// Self-metrics of the tenant pipeline stages (System.Diagnostics.Metrics): items in, out and
/// dropped by reason, per tenant and signal; transform errors; redacted values.
/// </summary>
public sealed class PipelineMetrics : IDisposable
{
    public const string MeterName = "ServerlessOtlp.Pipeline";

    /// <summary>Reason tag of items dropped by a tenant's filters.</summary>
    public const string ReasonFilter = "filter";

    /// <summary>Reason tag of items of a request whose transform failed (error mode propagate): they go to the dead-letter store.</summary>
    public const string ReasonTransformError = "transform_error";

    private readonly Meter _meter;
    private readonly Counter<long> _in;
    private readonly Counter<long> _out;
    private readonly Counter<long> _dropped;
    private readonly Counter<long> _errors;
    private readonly Counter<long> _redacted;

    public PipelineMetrics(IMeterFactory? factory = null)
    {
        _meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        _in = _meter.CreateCounter<long>("otlp_pipeline_items_in", "{item}", "Items entering the tenant pipeline (redaction, transforms, filters)");
        _out = _meter.CreateCounter<long>("otlp_pipeline_items_out", "{item}", "Items leaving the tenant pipeline");
        _dropped = _meter.CreateCounter<long>("otlp_pipeline_items_dropped", "{item}", "Items dropped by the tenant pipeline, by reason");
        _errors = _meter.CreateCounter<long>("otlp_pipeline_transform_errors", "{error}", "OTTL evaluation errors, by error mode");
        _redacted = _meter.CreateCounter<long>("otlp_pipeline_values_redacted", "{value}", "Values masked by redaction presets");
    }

    public void Record(string tenant, Signal signal, in TransformResult result)
    {
        var tags = new TagList { { "tenant", tenant }, { "signal", signal.ToName() } };
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
        _dropped.Add(items, new TagList { { "tenant", tenant }, { "signal", signal.ToName() }, { "reason", reason } });

    public void Dispose() => _meter.Dispose();
}
