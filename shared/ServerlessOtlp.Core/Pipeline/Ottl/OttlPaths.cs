using System.Globalization;
using Google.Protobuf;
using Google.Protobuf.Collections;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Logs.V1;
using OpenTelemetry.Proto.Metrics.V1;
using OpenTelemetry.Proto.Trace.V1;

namespace ServerlessOtlp.Pipeline.Ottl;

/// <summary>The static type of a path or an expression, for checks at compile (apply) time.</summary>
internal enum OttlType
{
    Any,
    String,
    Int,
    Double,
    Bool,
    Bytes,
    Map,
}

/// <summary>
/// One field a path can name. <see cref="Get"/> returns nil when the item's parent is absent.
/// Maps are returned live; <see cref="Map"/> and <see cref="Value"/> give the container that keyed
/// writes (<c>attributes["k"]</c>, <c>body["k"]</c>) go into, creating it when needed.
/// Setters ignore values of the wrong type, as the Collector's do.
/// </summary>
internal sealed record OttlPathDef(OttlContextKind Context, string Field, OttlType Type, Func<OttlContext, object?> Get, Action<OttlContext, object?>? Set)
{
    public Func<OttlContext, RepeatedField<KeyValue>>? Map { get; init; }

    public Func<OttlContext, AnyValue>? Value { get; init; }

    public string Text => Context.Name() + "." + Field;
}

/// <summary>The fields of each context (the Collector's ottlresource, ottlscope, ottlspan, … paths this subset supports).</summary>
internal static class OttlPaths
{
    private static readonly Dictionary<(OttlContextKind, string), OttlPathDef> Fields = Build();

    public static OttlPathDef? Find(OttlContextKind context, string field) => Fields.GetValueOrDefault((context, field));

    public static IEnumerable<string> FieldsOf(OttlContextKind context) =>
        Fields.Keys.Where(k => k.Item1 == context).Select(k => k.Item2).Order(StringComparer.Ordinal);

    private static Dictionary<(OttlContextKind, string), OttlPathDef> Build()
    {
        var d = new Dictionary<(OttlContextKind, string), OttlPathDef>();
        void Add(OttlPathDef def) => d.Add((def.Context, def.Field), def);

        // resource
        Add(MapPath(OttlContextKind.Resource, c => c.Resource?.Attributes, c => c.Resource!.Attributes));
        Add(Int(OttlContextKind.Resource, "dropped_attributes_count", c => c.Resource?.DroppedAttributesCount, (c, v) => c.Resource!.DroppedAttributesCount = (uint)v));

        // scope
        Add(Str(OttlContextKind.Scope, "name", c => c.Scope?.Name, (c, v) => c.Scope!.Name = v));
        Add(Str(OttlContextKind.Scope, "version", c => c.Scope?.Version, (c, v) => c.Scope!.Version = v));
        Add(MapPath(OttlContextKind.Scope, c => c.Scope?.Attributes, c => c.Scope!.Attributes));
        Add(Int(OttlContextKind.Scope, "dropped_attributes_count", c => c.Scope?.DroppedAttributesCount, (c, v) => c.Scope!.DroppedAttributesCount = (uint)v));

        // span
        const OttlContextKind S = OttlContextKind.Span;
        AddIds(Add, S, "trace_id", 16, c => c.Span?.TraceId, (c, v) => c.Span!.TraceId = v);
        AddIds(Add, S, "span_id", 8, c => c.Span?.SpanId, (c, v) => c.Span!.SpanId = v);
        AddIds(Add, S, "parent_span_id", 8, c => c.Span?.ParentSpanId, (c, v) => c.Span!.ParentSpanId = v);
        Add(Str(S, "trace_state", c => c.Span?.TraceState, (c, v) => c.Span!.TraceState = v));
        Add(Str(S, "name", c => c.Span?.Name, (c, v) => c.Span!.Name = v));
        Add(Int(S, "kind", c => (long?)c.Span?.Kind, (c, v) => c.Span!.Kind = (Span.Types.SpanKind)v));
        Add(Int(S, "start_time_unix_nano", c => (long?)c.Span?.StartTimeUnixNano, (c, v) => c.Span!.StartTimeUnixNano = (ulong)v));
        Add(Int(S, "end_time_unix_nano", c => (long?)c.Span?.EndTimeUnixNano, (c, v) => c.Span!.EndTimeUnixNano = (ulong)v));
        Add(MapPath(S, c => c.Span?.Attributes, c => c.Span!.Attributes));
        Add(Int(S, "dropped_attributes_count", c => c.Span?.DroppedAttributesCount, (c, v) => c.Span!.DroppedAttributesCount = (uint)v));
        Add(Int(S, "dropped_events_count", c => c.Span?.DroppedEventsCount, (c, v) => c.Span!.DroppedEventsCount = (uint)v));
        Add(Int(S, "dropped_links_count", c => c.Span?.DroppedLinksCount, (c, v) => c.Span!.DroppedLinksCount = (uint)v));
        Add(Int(S, "status.code", c => c.Span is { } s ? (long)(s.Status?.Code ?? 0) : null, (c, v) => (c.Span!.Status ??= new Status()).Code = (Status.Types.StatusCode)v));
        Add(Str(S, "status.message", c => c.Span is { } s ? s.Status?.Message ?? "" : null, (c, v) => (c.Span!.Status ??= new Status()).Message = v));

        // spanevent
        const OttlContextKind E = OttlContextKind.SpanEvent;
        Add(Str(E, "name", c => c.SpanEvent?.Name, (c, v) => c.SpanEvent!.Name = v));
        Add(Int(E, "time_unix_nano", c => (long?)c.SpanEvent?.TimeUnixNano, (c, v) => c.SpanEvent!.TimeUnixNano = (ulong)v));
        Add(MapPath(E, c => c.SpanEvent?.Attributes, c => c.SpanEvent!.Attributes));
        Add(Int(E, "dropped_attributes_count", c => c.SpanEvent?.DroppedAttributesCount, (c, v) => c.SpanEvent!.DroppedAttributesCount = (uint)v));

        // log
        const OttlContextKind L = OttlContextKind.Log;
        Add(Int(L, "time_unix_nano", c => (long?)c.Log?.TimeUnixNano, (c, v) => c.Log!.TimeUnixNano = (ulong)v));
        Add(Int(L, "observed_time_unix_nano", c => (long?)c.Log?.ObservedTimeUnixNano, (c, v) => c.Log!.ObservedTimeUnixNano = (ulong)v));
        Add(Int(L, "severity_number", c => (long?)c.Log?.SeverityNumber, (c, v) => c.Log!.SeverityNumber = (SeverityNumber)v));
        Add(Str(L, "severity_text", c => c.Log?.SeverityText, (c, v) => c.Log!.SeverityText = v));
        Add(new OttlPathDef(L, "body", OttlType.Any, c => OttlValues.FromAnyValue(c.Log?.Body), (c, v) =>
        {
            if (v is not null)
            {
                c.Log!.Body = OttlValues.ToAnyValue(v);
            }
        })
        { Value = c => c.Log!.Body ??= new AnyValue() });
        Add(Str(L, "body.string", c => c.Log is { } l ? OttlValues.StringLike(OttlValues.FromAnyValue(l.Body)) ?? "" : null, (c, v) => c.Log!.Body = new AnyValue { StringValue = v }));
        Add(MapPath(L, c => c.Log?.Attributes, c => c.Log!.Attributes));
        Add(Int(L, "dropped_attributes_count", c => c.Log?.DroppedAttributesCount, (c, v) => c.Log!.DroppedAttributesCount = (uint)v));
        Add(Int(L, "flags", c => c.Log?.Flags, (c, v) => c.Log!.Flags = (uint)v));
        AddIds(Add, L, "trace_id", 16, c => c.Log?.TraceId, (c, v) => c.Log!.TraceId = v);
        AddIds(Add, L, "span_id", 8, c => c.Log?.SpanId, (c, v) => c.Log!.SpanId = v);
        Add(Str(L, "event_name", c => c.Log?.EventName, (c, v) => c.Log!.EventName = v));

        // metric
        const OttlContextKind M = OttlContextKind.Metric;
        Add(Str(M, "name", c => c.Metric?.Name, (c, v) => c.Metric!.Name = v));
        Add(Str(M, "description", c => c.Metric?.Description, (c, v) => c.Metric!.Description = v));
        Add(Str(M, "unit", c => c.Metric?.Unit, (c, v) => c.Metric!.Unit = v));
        Add(new OttlPathDef(M, "type", OttlType.Int, c => c.Metric is { } m ? (long)MetricType(m) : null, null));
        Add(Int(M, "aggregation_temporality", c => c.Metric is { } m ? (long?)Temporality(m) : null, (c, v) => SetTemporality(c.Metric!, (AggregationTemporality)v)));
        Add(new OttlPathDef(M, "is_monotonic", OttlType.Bool, c => c.Metric is { } m ? m.Sum?.IsMonotonic ?? false : null, (c, v) =>
        {
            if (v is bool b && c.Metric!.Sum is { } sum)
            {
                sum.IsMonotonic = b;
            }
        }));

        // datapoint
        const OttlContextKind P = OttlContextKind.DataPoint;
        Add(MapPath(P, c => DataPointAttributes(c.DataPoint), c => DataPointAttributes(c.DataPoint)!));
        Add(Int(P, "start_time_unix_nano", c => (long?)PointTimes(c.DataPoint).Start, (c, v) => SetPointTime(c.DataPoint!, start: true, (ulong)v)));
        Add(Int(P, "time_unix_nano", c => (long?)PointTimes(c.DataPoint).Time, (c, v) => SetPointTime(c.DataPoint!, start: false, (ulong)v)));
        Add(new OttlPathDef(P, "value_double", OttlType.Double, c => c.DataPoint is NumberDataPoint { ValueCase: NumberDataPoint.ValueOneofCase.AsDouble } n ? n.AsDouble : null, (c, v) =>
        {
            if (v is double d && c.DataPoint is NumberDataPoint n)
            {
                n.AsDouble = d;
            }
        }));
        Add(Int(P, "value_int", c => c.DataPoint is NumberDataPoint { ValueCase: NumberDataPoint.ValueOneofCase.AsInt } n ? n.AsInt : null, (c, v) =>
        {
            if (c.DataPoint is NumberDataPoint n)
            {
                n.AsInt = v;
            }
        }));
        Add(Int(P, "count", c => c.DataPoint switch
        {
            HistogramDataPoint h => (long)h.Count,
            ExponentialHistogramDataPoint e => (long)e.Count,
            SummaryDataPoint s => (long)s.Count,
            _ => null,
        }, (c, v) =>
        {
            switch (c.DataPoint)
            {
                case HistogramDataPoint h: h.Count = (ulong)v; break;
                case ExponentialHistogramDataPoint e: e.Count = (ulong)v; break;
                case SummaryDataPoint s: s.Count = (ulong)v; break;
            }
        }));
        Add(new OttlPathDef(P, "sum", OttlType.Double, c => c.DataPoint switch
        {
            HistogramDataPoint h => h.Sum,
            ExponentialHistogramDataPoint e => e.Sum,
            SummaryDataPoint s => s.Sum,
            _ => null,
        }, (c, v) =>
        {
            if (v is not double d)
            {
                return;
            }

            switch (c.DataPoint)
            {
                case HistogramDataPoint h: h.Sum = d; break;
                case ExponentialHistogramDataPoint e: e.Sum = d; break;
                case SummaryDataPoint s: s.Sum = d; break;
            }
        }));
        Add(Int(P, "flags", c => c.DataPoint switch
        {
            NumberDataPoint n => n.Flags,
            HistogramDataPoint h => h.Flags,
            ExponentialHistogramDataPoint e => e.Flags,
            SummaryDataPoint s => s.Flags,
            _ => null,
        }, (c, v) =>
        {
            switch (c.DataPoint)
            {
                case NumberDataPoint n: n.Flags = (uint)v; break;
                case HistogramDataPoint h: h.Flags = (uint)v; break;
                case ExponentialHistogramDataPoint e: e.Flags = (uint)v; break;
                case SummaryDataPoint s: s.Flags = (uint)v; break;
            }
        }));
        return d;
    }

    private static OttlPathDef Str(OttlContextKind context, string field, Func<OttlContext, string?> get, Action<OttlContext, string> set) =>
        new(context, field, OttlType.String, c => get(c), (c, v) =>
        {
            if (v is string s)
            {
                set(c, s);
            }
        });

    private static OttlPathDef Int(OttlContextKind context, string field, Func<OttlContext, long?> get, Action<OttlContext, long> set) =>
        new(context, field, OttlType.Int, c => get(c), (c, v) =>
        {
            if (v is long l)
            {
                set(c, l);
            }
        });

    private static OttlPathDef MapPath(OttlContextKind context, Func<OttlContext, RepeatedField<KeyValue>?> get, Func<OttlContext, RepeatedField<KeyValue>> map) =>
        new(context, "attributes", OttlType.Map, c => get(c), (c, v) =>
        {
            if (v is RepeatedField<KeyValue> source)
            {
                OttlValues.ReplaceMap(map(c), source);
            }
        })
        { Map = map };

    // trace_id as bytes and as the lower-case hex string, like the Collector's trace_id and trace_id.string.
    private static void AddIds(Action<OttlPathDef> add, OttlContextKind context, string field, int length, Func<OttlContext, ByteString?> get, Action<OttlContext, ByteString> set)
    {
        add(new OttlPathDef(context, field, OttlType.Bytes, c => get(c)?.ToByteArray(), (c, v) =>
        {
            if (v is byte[] bytes && bytes.Length == length)
            {
                set(c, ByteString.CopyFrom(bytes));
            }
        }));
        add(Str(context, field + ".string", c => get(c) is { } b ? Convert.ToHexStringLower(b.Span) : null, (c, v) =>
        {
            if (v.Length == length * 2 && v.All(char.IsAsciiHexDigit))
            {
                set(c, ByteString.CopyFrom(Convert.FromHexString(v)));
            }
        }));
    }

    private static RepeatedField<KeyValue>? DataPointAttributes(IMessage? point) => point switch
    {
        NumberDataPoint n => n.Attributes,
        HistogramDataPoint h => h.Attributes,
        ExponentialHistogramDataPoint e => e.Attributes,
        SummaryDataPoint s => s.Attributes,
        _ => null,
    };

    private static (ulong? Start, ulong? Time) PointTimes(IMessage? point) => point switch
    {
        NumberDataPoint n => (n.StartTimeUnixNano, n.TimeUnixNano),
        HistogramDataPoint h => (h.StartTimeUnixNano, h.TimeUnixNano),
        ExponentialHistogramDataPoint e => (e.StartTimeUnixNano, e.TimeUnixNano),
        SummaryDataPoint s => (s.StartTimeUnixNano, s.TimeUnixNano),
        _ => (null, null),
    };

    private static void SetPointTime(IMessage point, bool start, ulong value)
    {
        switch (point)
        {
            case NumberDataPoint n: if (start) { n.StartTimeUnixNano = value; } else { n.TimeUnixNano = value; } break;
            case HistogramDataPoint h: if (start) { h.StartTimeUnixNano = value; } else { h.TimeUnixNano = value; } break;
            case ExponentialHistogramDataPoint e: if (start) { e.StartTimeUnixNano = value; } else { e.TimeUnixNano = value; } break;
            case SummaryDataPoint s: if (start) { s.StartTimeUnixNano = value; } else { s.TimeUnixNano = value; } break;
        }
    }

    /// <summary>The Collector's METRIC_DATA_TYPE_* numbers (pmetric.MetricType).</summary>
    public static int MetricType(Metric metric) => metric.DataCase switch
    {
        Metric.DataOneofCase.Gauge => 1,
        Metric.DataOneofCase.Sum => 2,
        Metric.DataOneofCase.Histogram => 3,
        Metric.DataOneofCase.ExponentialHistogram => 4,
        Metric.DataOneofCase.Summary => 5,
        _ => 0,
    };

    private static AggregationTemporality? Temporality(Metric metric) => metric.DataCase switch
    {
        Metric.DataOneofCase.Sum => metric.Sum.AggregationTemporality,
        Metric.DataOneofCase.Histogram => metric.Histogram.AggregationTemporality,
        Metric.DataOneofCase.ExponentialHistogram => metric.ExponentialHistogram.AggregationTemporality,
        _ => AggregationTemporality.Unspecified,
    };

    private static void SetTemporality(Metric metric, AggregationTemporality value)
    {
        switch (metric.DataCase)
        {
            case Metric.DataOneofCase.Sum: metric.Sum.AggregationTemporality = value; break;
            case Metric.DataOneofCase.Histogram: metric.Histogram.AggregationTemporality = value; break;
            case Metric.DataOneofCase.ExponentialHistogram: metric.ExponentialHistogram.AggregationTemporality = value; break;
        }
    }

    /// <summary>The enum symbols of every context (the Collector scopes them per context; their values do not clash).</summary>
    public static readonly IReadOnlyDictionary<string, long> Enums = BuildEnums();

    private static Dictionary<string, long> BuildEnums()
    {
        var enums = new Dictionary<string, long>(StringComparer.Ordinal)
        {
            ["SPAN_KIND_UNSPECIFIED"] = 0,
            ["SPAN_KIND_INTERNAL"] = 1,
            ["SPAN_KIND_SERVER"] = 2,
            ["SPAN_KIND_CLIENT"] = 3,
            ["SPAN_KIND_PRODUCER"] = 4,
            ["SPAN_KIND_CONSUMER"] = 5,
            ["STATUS_CODE_UNSET"] = 0,
            ["STATUS_CODE_OK"] = 1,
            ["STATUS_CODE_ERROR"] = 2,
            ["SEVERITY_NUMBER_UNSPECIFIED"] = 0,
            ["AGGREGATION_TEMPORALITY_UNSPECIFIED"] = 0,
            ["AGGREGATION_TEMPORALITY_DELTA"] = 1,
            ["AGGREGATION_TEMPORALITY_CUMULATIVE"] = 2,
            ["METRIC_DATA_TYPE_NONE"] = 0,
            ["METRIC_DATA_TYPE_GAUGE"] = 1,
            ["METRIC_DATA_TYPE_SUM"] = 2,
            ["METRIC_DATA_TYPE_HISTOGRAM"] = 3,
            ["METRIC_DATA_TYPE_EXPONENTIAL_HISTOGRAM"] = 4,
            ["METRIC_DATA_TYPE_SUMMARY"] = 5,
            ["FLAG_NONE"] = 0,
            ["FLAG_NO_RECORDED_VALUE"] = 1,
        };
        string[] levels = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
        for (int l = 0; l < levels.Length; l++)
        {
            enums["SEVERITY_NUMBER_" + levels[l]] = (l * 4) + 1;
            for (int n = 2; n <= 4; n++)
            {
                enums["SEVERITY_NUMBER_" + levels[l] + n.ToString(CultureInfo.InvariantCulture)] = (l * 4) + n;
            }
        }

        return enums;
    }
}
