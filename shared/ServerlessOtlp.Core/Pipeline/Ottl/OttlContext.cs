using Google.Protobuf;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Logs.V1;
using OpenTelemetry.Proto.Metrics.V1;
using OpenTelemetry.Proto.Resource.V1;
using OpenTelemetry.Proto.Trace.V1;
using ServerlessOtlp.Otlp;

namespace ServerlessOtlp.Pipeline.Ottl;

/// <summary>
/// The Collector's OTTL contexts: what a statement runs on. A path names its context by its
/// first segment (<c>span.name</c>); a statement runs in the deepest context it mentions
/// (its <see cref="Depth"/>), once per item of that context.
/// </summary>
public enum OttlContextKind
{
    Resource,
    Scope,
    Span,
    SpanEvent,
    Log,
    Metric,
    DataPoint,
}

internal static class OttlContextKinds
{
    /// <summary>The context of classic paths without a prefix (<c>attributes["k"]</c>): the Collector's default per signal.</summary>
    public static OttlContextKind Default(Signal signal) => signal switch
    {
        Signal.Traces => OttlContextKind.Span,
        Signal.Metrics => OttlContextKind.DataPoint,
        _ => OttlContextKind.Log,
    };

    public static int Depth(this OttlContextKind kind) => kind switch
    {
        OttlContextKind.Resource => 0,
        OttlContextKind.Scope => 1,
        OttlContextKind.Span or OttlContextKind.Log or OttlContextKind.Metric => 2,
        _ => 3,
    };

    public static bool IsAvailable(this OttlContextKind kind, Signal signal) => kind switch
    {
        OttlContextKind.Resource or OttlContextKind.Scope => true,
        OttlContextKind.Span or OttlContextKind.SpanEvent => signal == Signal.Traces,
        OttlContextKind.Log => signal == Signal.Logs,
        _ => signal == Signal.Metrics,
    };

    public static string Name(this OttlContextKind kind) => kind switch
    {
        OttlContextKind.Resource => "resource",
        OttlContextKind.Scope => "scope",
        OttlContextKind.Span => "span",
        OttlContextKind.SpanEvent => "spanevent",
        OttlContextKind.Log => "log",
        OttlContextKind.Metric => "metric",
        _ => "datapoint",
    };

    /// <summary>The context a first path segment names; <c>instrumentation_scope</c> is the classic name of scope.</summary>
    public static OttlContextKind? FromPrefix(string segment) => segment switch
    {
        "resource" => OttlContextKind.Resource,
        "scope" or "instrumentation_scope" => OttlContextKind.Scope,
        "span" => OttlContextKind.Span,
        "spanevent" => OttlContextKind.SpanEvent,
        "log" => OttlContextKind.Log,
        "metric" => OttlContextKind.Metric,
        "datapoint" => OttlContextKind.DataPoint,
        _ => null,
    };
}

/// <summary>
/// The item a compiled statement runs on, and its parents: set by the traversal, read and
/// written by the compiled paths. One instance is reused for a whole request.
/// </summary>
internal sealed class OttlContext
{
    public Resource? Resource { get; set; }

    public InstrumentationScope? Scope { get; set; }

    public Span? Span { get; set; }

    public Span.Types.Event? SpanEvent { get; set; }

    public LogRecord? Log { get; set; }

    public Metric? Metric { get; set; }

    /// <summary>A NumberDataPoint, HistogramDataPoint, ExponentialHistogramDataPoint or SummaryDataPoint.</summary>
    public IMessage? DataPoint { get; set; }

    /// <summary>Makes <paramref name="item"/> the current one of <paramref name="kind"/> and forgets the items below it.</summary>
    internal void Enter(OttlContextKind kind, object? item)
    {
        switch (kind)
        {
            case OttlContextKind.Resource:
                Resource = (Resource?)item;
                Scope = null;
                ForgetItems();
                break;
            case OttlContextKind.Scope:
                Scope = (InstrumentationScope?)item;
                ForgetItems();
                break;
            case OttlContextKind.Span:
                Span = (Span?)item;
                SpanEvent = null;
                break;
            case OttlContextKind.SpanEvent:
                SpanEvent = (Span.Types.Event?)item;
                break;
            case OttlContextKind.Log:
                Log = (LogRecord?)item;
                break;
            case OttlContextKind.Metric:
                Metric = (Metric?)item;
                DataPoint = null;
                break;
            default:
                DataPoint = (IMessage?)item;
                break;
        }
    }

    private void ForgetItems()
    {
        Span = null;
        SpanEvent = null;
        Log = null;
        Metric = null;
        DataPoint = null;
    }
}
