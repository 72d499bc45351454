using Google.Protobuf;
using Google.Protobuf.Collections;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Metrics.V1;
using OpenTelemetry.Proto.Resource.V1;

namespace ServerlessOtlp.Pipeline.Ottl;

/// <summary>
/// Walks a decoded export request: runs a statement once per item of its context, and prunes
/// items (with the scopes and resources left empty). Plain loops, no LINQ: this is the drain path.
/// </summary>
internal static class OttlTraversal
{
    /// <summary>Runs <paramref name="run"/> on every item of <paramref name="context"/>; stops when it answers false.</summary>
    public static bool ForEach(IMessage request, OttlContextKind context, OttlContext c, Func<OttlContext, bool> run)
    {
        switch (request)
        {
            case ExportTraceServiceRequest traces:
                foreach (var rs in traces.ResourceSpans)
                {
                    c.Resource = rs.Resource ??= new Resource();
                    if (context == OttlContextKind.Resource)
                    {
                        if (!run(c))
                        {
                            return false;
                        }

                        continue;
                    }

                    foreach (var ss in rs.ScopeSpans)
                    {
                        c.Scope = ss.Scope ??= new InstrumentationScope();
                        if (context == OttlContextKind.Scope)
                        {
                            if (!run(c))
                            {
                                return false;
                            }

                            continue;
                        }

                        foreach (var span in ss.Spans)
                        {
                            c.Span = span;
                            c.SpanEvent = null;
                            if (context == OttlContextKind.Span)
                            {
                                if (!run(c))
                                {
                                    return false;
                                }

                                continue;
                            }

                            foreach (var e in span.Events)
                            {
                                c.SpanEvent = e;
                                if (!run(c))
                                {
                                    return false;
                                }
                            }
                        }
                    }
                }

                return true;

            case ExportLogsServiceRequest logs:
                foreach (var rl in logs.ResourceLogs)
                {
                    c.Resource = rl.Resource ??= new Resource();
                    if (context == OttlContextKind.Resource)
                    {
                        if (!run(c))
                        {
                            return false;
                        }

                        continue;
                    }

                    foreach (var sl in rl.ScopeLogs)
                    {
                        c.Scope = sl.Scope ??= new InstrumentationScope();
                        if (context == OttlContextKind.Scope)
                        {
                            if (!run(c))
                            {
                                return false;
                            }

                            continue;
                        }

                        foreach (var log in sl.LogRecords)
                        {
                            c.Log = log;
                            if (!run(c))
                            {
                                return false;
                            }
                        }
                    }
                }

                return true;

            case ExportMetricsServiceRequest metrics:
                foreach (var rm in metrics.ResourceMetrics)
                {
                    c.Resource = rm.Resource ??= new Resource();
                    if (context == OttlContextKind.Resource)
                    {
                        if (!run(c))
                        {
                            return false;
                        }

                        continue;
                    }

                    foreach (var sm in rm.ScopeMetrics)
                    {
                        c.Scope = sm.Scope ??= new InstrumentationScope();
                        if (context == OttlContextKind.Scope)
                        {
                            if (!run(c))
                            {
                                return false;
                            }

                            continue;
                        }

                        foreach (var metric in sm.Metrics)
                        {
                            c.Metric = metric;
                            c.DataPoint = null;
                            if (context == OttlContextKind.Metric)
                            {
                                if (!run(c))
                                {
                                    return false;
                                }

                                continue;
                            }

                            if (!ForEachPoint(metric, c, run))
                            {
                                return false;
                            }
                        }
                    }
                }

                return true;

            default:
                throw new ArgumentException($"not an OTLP export request: {request.GetType().Name}", nameof(request));
        }
    }

    private static bool ForEachPoint(Metric metric, OttlContext c, Func<OttlContext, bool> run) => metric.DataCase switch
    {
        Metric.DataOneofCase.Gauge => ForEachPoint(metric.Gauge.DataPoints, c, run),
        Metric.DataOneofCase.Sum => ForEachPoint(metric.Sum.DataPoints, c, run),
        Metric.DataOneofCase.Histogram => ForEachPoint(metric.Histogram.DataPoints, c, run),
        Metric.DataOneofCase.ExponentialHistogram => ForEachPoint(metric.ExponentialHistogram.DataPoints, c, run),
        Metric.DataOneofCase.Summary => ForEachPoint(metric.Summary.DataPoints, c, run),
        _ => true,
    };

    private static bool ForEachPoint<T>(RepeatedField<T> points, OttlContext c, Func<OttlContext, bool> run)
        where T : IMessage
    {
        foreach (var point in points)
        {
            c.DataPoint = point;
            if (!run(c))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Removes every item for which <paramref name="drop"/> answers true at its level (a dropped
    /// resource or scope takes its items along), then the scopes and resources left empty. Only
    /// levels in <paramref name="levels"/> are asked. Returns the number of items (spans, log
    /// records, data points) removed.
    /// </summary>
    public static int Prune(IMessage request, OttlContext c, IReadOnlySet<OttlContextKind> levels, Func<OttlContext, OttlContextKind, bool> drop)
    {
        int removed = 0;
        switch (request)
        {
            case ExportTraceServiceRequest traces:
                {
                    var resources = traces.ResourceSpans;
                    for (int r = resources.Count - 1; r >= 0; r--)
                    {
                        var rs = resources[r];
                        Reset(c, rs.Resource);
                        if (levels.Contains(OttlContextKind.Resource) && drop(c, OttlContextKind.Resource))
                        {
                            removed += CountItems(rs);
                            resources.RemoveAt(r);
                            continue;
                        }

                        for (int s = rs.ScopeSpans.Count - 1; s >= 0; s--)
                        {
                            var ss = rs.ScopeSpans[s];
                            c.Scope = ss.Scope;
                            c.Span = null;
                            c.SpanEvent = null;
                            if (levels.Contains(OttlContextKind.Scope) && drop(c, OttlContextKind.Scope))
                            {
                                removed += ss.Spans.Count;
                                rs.ScopeSpans.RemoveAt(s);
                                continue;
                            }

                            for (int i = ss.Spans.Count - 1; i >= 0; i--)
                            {
                                var span = ss.Spans[i];
                                c.Span = span;
                                c.SpanEvent = null;
                                if (levels.Contains(OttlContextKind.Span) && drop(c, OttlContextKind.Span))
                                {
                                    removed++;
                                    ss.Spans.RemoveAt(i);
                                    continue;
                                }

                                for (int e = span.Events.Count - 1; levels.Contains(OttlContextKind.SpanEvent) && e >= 0; e--)
                                {
                                    c.SpanEvent = span.Events[e];
                                    if (drop(c, OttlContextKind.SpanEvent))
                                    {
                                        span.Events.RemoveAt(e);
                                    }
                                }
                            }

                            if (ss.Spans.Count == 0)
                            {
                                rs.ScopeSpans.RemoveAt(s);
                            }
                        }

                        if (rs.ScopeSpans.Count == 0)
                        {
                            resources.RemoveAt(r);
                        }
                    }

                    return removed;
                }

            case ExportLogsServiceRequest logs:
                {
                    var resources = logs.ResourceLogs;
                    for (int r = resources.Count - 1; r >= 0; r--)
                    {
                        var rl = resources[r];
                        Reset(c, rl.Resource);
                        if (levels.Contains(OttlContextKind.Resource) && drop(c, OttlContextKind.Resource))
                        {
                            removed += CountItems(rl);
                            resources.RemoveAt(r);
                            continue;
                        }

                        for (int s = rl.ScopeLogs.Count - 1; s >= 0; s--)
                        {
                            var sl = rl.ScopeLogs[s];
                            c.Scope = sl.Scope;
                            c.Log = null;
                            if (levels.Contains(OttlContextKind.Scope) && drop(c, OttlContextKind.Scope))
                            {
                                removed += sl.LogRecords.Count;
                                rl.ScopeLogs.RemoveAt(s);
                                continue;
                            }

                            for (int i = sl.LogRecords.Count - 1; levels.Contains(OttlContextKind.Log) && i >= 0; i--)
                            {
                                c.Log = sl.LogRecords[i];
                                if (drop(c, OttlContextKind.Log))
                                {
                                    removed++;
                                    sl.LogRecords.RemoveAt(i);
                                }
                            }

                            if (sl.LogRecords.Count == 0)
                            {
                                rl.ScopeLogs.RemoveAt(s);
                            }
                        }

                        if (rl.ScopeLogs.Count == 0)
                        {
                            resources.RemoveAt(r);
                        }
                    }

                    return removed;
                }

            case ExportMetricsServiceRequest metrics:
                {
                    var resources = metrics.ResourceMetrics;
                    for (int r = resources.Count - 1; r >= 0; r--)
                    {
                        var rm = resources[r];
                        Reset(c, rm.Resource);
                        if (levels.Contains(OttlContextKind.Resource) && drop(c, OttlContextKind.Resource))
                        {
                            removed += CountItems(rm);
                            resources.RemoveAt(r);
                            continue;
                        }

                        for (int s = rm.ScopeMetrics.Count - 1; s >= 0; s--)
                        {
                            var sm = rm.ScopeMetrics[s];
                            c.Scope = sm.Scope;
                            c.Metric = null;
                            c.DataPoint = null;
                            if (levels.Contains(OttlContextKind.Scope) && drop(c, OttlContextKind.Scope))
                            {
                                removed += CountItems(sm);
                                rm.ScopeMetrics.RemoveAt(s);
                                continue;
                            }

                            for (int i = sm.Metrics.Count - 1; i >= 0; i--)
                            {
                                var metric = sm.Metrics[i];
                                c.Metric = metric;
                                c.DataPoint = null;
                                if (levels.Contains(OttlContextKind.Metric) && drop(c, OttlContextKind.Metric))
                                {
                                    removed += PointCount(metric);
                                    sm.Metrics.RemoveAt(i);
                                    continue;
                                }

                                if (levels.Contains(OttlContextKind.DataPoint))
                                {
                                    removed += PrunePoints(metric, c, drop);
                                    if (PointCount(metric) == 0)
                                    {
                                        // The Collector's filter drops a metric whose data points were all dropped.
                                        sm.Metrics.RemoveAt(i);
                                    }
                                }
                            }

                            if (sm.Metrics.Count == 0)
                            {
                                rm.ScopeMetrics.RemoveAt(s);
                            }
                        }

                        if (rm.ScopeMetrics.Count == 0)
                        {
                            resources.RemoveAt(r);
                        }
                    }

                    return removed;
                }

            default:
                throw new ArgumentException($"not an OTLP export request: {request.GetType().Name}", nameof(request));
        }
    }

    private static void Reset(OttlContext c, Resource? resource)
    {
        c.Resource = resource;
        c.Scope = null;
        c.Span = null;
        c.SpanEvent = null;
        c.Log = null;
        c.Metric = null;
        c.DataPoint = null;
    }

    private static int PrunePoints(Metric metric, OttlContext c, Func<OttlContext, OttlContextKind, bool> drop) => metric.DataCase switch
    {
        Metric.DataOneofCase.Gauge => PrunePoints(metric.Gauge.DataPoints, c, drop),
        Metric.DataOneofCase.Sum => PrunePoints(metric.Sum.DataPoints, c, drop),
        Metric.DataOneofCase.Histogram => PrunePoints(metric.Histogram.DataPoints, c, drop),
        Metric.DataOneofCase.ExponentialHistogram => PrunePoints(metric.ExponentialHistogram.DataPoints, c, drop),
        Metric.DataOneofCase.Summary => PrunePoints(metric.Summary.DataPoints, c, drop),
        _ => 0,
    };

    private static int PrunePoints<T>(RepeatedField<T> points, OttlContext c, Func<OttlContext, OttlContextKind, bool> drop)
        where T : IMessage
    {
        int removed = 0;
        for (int i = points.Count - 1; i >= 0; i--)
        {
            c.DataPoint = points[i];
            if (drop(c, OttlContextKind.DataPoint))
            {
                points.RemoveAt(i);
                removed++;
            }
        }

        c.DataPoint = null;
        return removed;
    }

    /// <summary>Spans, log records or data points in the request.</summary>
    public static int CountItems(IMessage request)
    {
        int count = 0;
        switch (request)
        {
            case ExportTraceServiceRequest traces:
                foreach (var rs in traces.ResourceSpans)
                {
                    count += CountItems(rs);
                }

                break;
            case ExportLogsServiceRequest logs:
                foreach (var rl in logs.ResourceLogs)
                {
                    count += CountItems(rl);
                }

                break;
            case ExportMetricsServiceRequest metrics:
                foreach (var rm in metrics.ResourceMetrics)
                {
                    count += CountItems(rm);
                }

                break;
        }

        return count;
    }

    private static int CountItems(OpenTelemetry.Proto.Trace.V1.ResourceSpans rs)
    {
        int count = 0;
        foreach (var ss in rs.ScopeSpans)
        {
            count += ss.Spans.Count;
        }

        return count;
    }

    private static int CountItems(OpenTelemetry.Proto.Logs.V1.ResourceLogs rl)
    {
        int count = 0;
        foreach (var sl in rl.ScopeLogs)
        {
            count += sl.LogRecords.Count;
        }

        return count;
    }

    private static int CountItems(ResourceMetrics rm)
    {
        int count = 0;
        foreach (var sm in rm.ScopeMetrics)
        {
            count += CountItems(sm);
        }

        return count;
    }

    private static int CountItems(ScopeMetrics sm)
    {
        int count = 0;
        foreach (var metric in sm.Metrics)
        {
            count += PointCount(metric);
        }

        return count;
    }

    private static int PointCount(Metric metric) => metric.DataCase switch
    {
        Metric.DataOneofCase.Gauge => metric.Gauge.DataPoints.Count,
        Metric.DataOneofCase.Sum => metric.Sum.DataPoints.Count,
        Metric.DataOneofCase.Histogram => metric.Histogram.DataPoints.Count,
        Metric.DataOneofCase.ExponentialHistogram => metric.ExponentialHistogram.DataPoints.Count,
        Metric.DataOneofCase.Summary => metric.Summary.DataPoints.Count,
        _ => 0,
    };
}
