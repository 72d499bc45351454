using System.Collections;
using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Logs.V1;
using OpenTelemetry.Proto.Metrics.V1;
using OpenTelemetry.Proto.Resource.V1;
using OpenTelemetry.Proto.Trace.V1;

namespace ServerlessOtlp.Pipeline.Ottl;

/// <summary>What becomes of an entry once the entries below it are gone.</summary>
internal enum OttlEmptyEntry
{
    /// <summary>It stays: a span without events is still a span.</summary>
    Keep,

    /// <summary>It goes, whether or not anything below was dropped: a scope without items, a resource without scopes.</summary>
    Remove,

    /// <summary>It goes when the level below was pruned and left it empty: the Collector's filter drops a metric whose data points were all dropped.</summary>
    RemoveWhenPruned,
}

/// <summary>
/// One level of a signal's tree: the OTTL context its entries fill, how to reach them from an
/// entry of the level above (from the request at the top), and what becomes of an entry left empty.
/// </summary>
/// <param name="entries">The entries under a parent; null when it has none (a metric without data).</param>
/// <param name="contextItem">
/// The context's item for an entry when it is not the entry itself (a resource, of its
/// ResourceSpans); the flag asks for one that can be written into, created when absent.
/// </param>
internal sealed class OttlLevel(OttlContextKind kind, Func<object, IList?> entries, OttlEmptyEntry whenEmpty, Func<object, bool, object?>? contextItem = null)
{
    public OttlContextKind Kind { get; } = kind;

    public OttlEmptyEntry WhenEmpty { get; } = whenEmpty;

    public IList? EntriesOf(object parent) => entries(parent);

    public object? ContextItem(object entry, bool forWrite) => contextItem is null ? entry : contextItem(entry, forWrite);
}

/// <summary>
/// A signal's levels, top down, and which of them holds its items (spans, log records, data
/// points): the description <see cref="OttlTraversal"/> walks, one per signal.
/// </summary>
internal sealed class OttlSignalTree
{
    private OttlSignalTree(OttlContextKind items, params OttlLevel[] levels)
    {
        Levels = levels;
        ItemDepth = Array.FindIndex(levels, l => l.Kind == items);
    }

    public OttlLevel[] Levels { get; }

    public int ItemDepth { get; }

    // Statements get a resource and a scope to write into, as the Collector's pdata always has
    // them; filters only read, and leave an absent one absent.
    public static readonly OttlSignalTree Traces = new(
        OttlContextKind.Span,
        new(OttlContextKind.Resource, r => ((ExportTraceServiceRequest)r).ResourceSpans, OttlEmptyEntry.Remove, (e, write) => write ? ((ResourceSpans)e).Resource ??= new Resource() : ((ResourceSpans)e).Resource),
        new(OttlContextKind.Scope, e => ((ResourceSpans)e).ScopeSpans, OttlEmptyEntry.Remove, (e, write) => write ? ((ScopeSpans)e).Scope ??= new InstrumentationScope() : ((ScopeSpans)e).Scope),
        new(OttlContextKind.Span, e => ((ScopeSpans)e).Spans, OttlEmptyEntry.Keep),
        new(OttlContextKind.SpanEvent, e => ((Span)e).Events, OttlEmptyEntry.Keep));

    public static readonly OttlSignalTree Logs = new(
        OttlContextKind.Log,
        new(OttlContextKind.Resource, r => ((ExportLogsServiceRequest)r).ResourceLogs, OttlEmptyEntry.Remove, (e, write) => write ? ((ResourceLogs)e).Resource ??= new Resource() : ((ResourceLogs)e).Resource),
        new(OttlContextKind.Scope, e => ((ResourceLogs)e).ScopeLogs, OttlEmptyEntry.Remove, (e, write) => write ? ((ScopeLogs)e).Scope ??= new InstrumentationScope() : ((ScopeLogs)e).Scope),
        new(OttlContextKind.Log, e => ((ScopeLogs)e).LogRecords, OttlEmptyEntry.Keep));

    public static readonly OttlSignalTree Metrics = new(
        OttlContextKind.DataPoint,
        new(OttlContextKind.Resource, r => ((ExportMetricsServiceRequest)r).ResourceMetrics, OttlEmptyEntry.Remove, (e, write) => write ? ((ResourceMetrics)e).Resource ??= new Resource() : ((ResourceMetrics)e).Resource),
        new(OttlContextKind.Scope, e => ((ResourceMetrics)e).ScopeMetrics, OttlEmptyEntry.Remove, (e, write) => write ? ((ScopeMetrics)e).Scope ??= new InstrumentationScope() : ((ScopeMetrics)e).Scope),
        new(OttlContextKind.Metric, e => ((ScopeMetrics)e).Metrics, OttlEmptyEntry.RemoveWhenPruned),
        new(OttlContextKind.DataPoint, e => DataPoints((Metric)e), OttlEmptyEntry.Keep));

    /// <summary>The tree of an export request; null for any other message.</summary>
    public static OttlSignalTree? Of(IMessage request) => request switch
    {
        ExportTraceServiceRequest => Traces,
        ExportLogsServiceRequest => Logs,
        ExportMetricsServiceRequest => Metrics,
        _ => null,
    };

    /// <summary>The depth of <paramref name="kind"/>'s level; the deepest level for a context the signal lacks (the compiler refuses those).</summary>
    public int DepthOf(OttlContextKind kind)
    {
        for (int depth = 0; depth < Levels.Length; depth++)
        {
            if (Levels[depth].Kind == kind)
            {
                return depth;
            }
        }

        return Levels.Length - 1;
    }

    /// <summary>The depth of the deepest level among <paramref name="kinds"/>; -1 when none is in this tree.</summary>
    public int DeepestOf(IReadOnlySet<OttlContextKind> kinds)
    {
        for (int depth = Levels.Length - 1; depth >= 0; depth--)
        {
            if (kinds.Contains(Levels[depth].Kind))
            {
                return depth;
            }
        }

        return -1;
    }

    /// <summary>
    /// The items an entry at <paramref name="depth"/> holds: its own count below the item level,
    /// 1 at it, 0 under it (a span event is not an item). Depth -1 is the request.
    /// </summary>
    public int Items(int depth, object entry)
    {
        if (depth >= ItemDepth)
        {
            return depth == ItemDepth ? 1 : 0;
        }

        if (Levels[depth + 1].EntriesOf(entry) is not { } entries)
        {
            return 0;
        }

        if (depth + 1 == ItemDepth)
        {
            return entries.Count;
        }

        int count = 0;
        for (int i = 0; i < entries.Count; i++)
        {
            count += Items(depth + 1, entries[i]!);
        }

        return count;
    }

    private static IList? DataPoints(Metric metric) => metric.DataCase switch
    {
        Metric.DataOneofCase.Gauge => metric.Gauge.DataPoints,
        Metric.DataOneofCase.Sum => metric.Sum.DataPoints,
        Metric.DataOneofCase.Histogram => metric.Histogram.DataPoints,
        Metric.DataOneofCase.ExponentialHistogram => metric.ExponentialHistogram.DataPoints,
        Metric.DataOneofCase.Summary => metric.Summary.DataPoints,
        _ => null,
    };
}
