using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.Collections;
using Google.Protobuf.WellKnownTypes;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Logs.V1;
using ServerlessOtlp.Export.Loki.Logproto;
using ServerlessOtlp.Export.PrometheusRemoteWrite;

namespace ServerlessOtlp.Export.Loki;

/// <summary>
/// OTLP logs as a Loki push request, in protobuf (<c>logproto.PushRequest</c>) or JSON
/// (<c>{"streams":[{"stream":{labels},"values":[["ns","line",{metadata}]]}]}</c>). Stream labels are
/// the configured resource attributes (sanitized like Prometheus labels; <c>service_name</c> from
/// <c>service.name</c> when none is configured or found); the line is the body (a string as is,
/// anything else as JSON); trace and span ids, severity and the record's attributes go in
/// structured metadata (Loki 3), the names Loki's own OTLP endpoint uses.
/// </summary>
internal static class LokiPushRequest
{
    /// <summary>The label a stream gets when no configured attribute is present (Loki 3's default for OTLP).</summary>
    public const string ServiceNameLabel = "service_name";

    /// <summary>Loki's OTLP endpoint's value for a resource without <c>service.name</c>.</summary>
    public const string UnknownService = "unknown_service";

    /// <summary>An encoded push request: <see cref="Body"/> is JSON, or protobuf before snappy compression.</summary>
    public readonly record struct Built(byte[] Body, int Entries, int Streams);

    /// <summary>The JSON push request.</summary>
    public static Built Build(ExportLogsServiceRequest request, IReadOnlyList<string> labelAttributes, bool structuredMetadata, TimeProvider? time = null)
    {
        var streams = Group(request, labelAttributes, time, out int entries);
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartArray("streams");
            foreach (var (labels, list) in streams)
            {
                w.WriteStartObject();
                w.WriteStartObject("stream");
                foreach (var (name, value) in labels)
                {
                    w.WriteString(name, value);
                }

                w.WriteEndObject();
                w.WriteStartArray("values");
                foreach (var (ns, record, scope) in list)
                {
                    w.WriteStartArray();
                    w.WriteStringValue(ns.ToString(CultureInfo.InvariantCulture));
                    w.WriteStringValue(Line(record.Body));
                    if (structuredMetadata)
                    {
                        w.WriteStartObject();
                        foreach (var (name, value) in Metadata(record, scope))
                        {
                            w.WriteString(name, value);
                        }

                        w.WriteEndObject();
                    }

                    w.WriteEndArray();
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return new Built(buffer.WrittenSpan.ToArray(), entries, streams.Count);
    }

    /// <summary>
    /// The protobuf push request (<c>logproto.PushRequest</c>), uncompressed: Loki wants it
    /// snappy block-compressed with <c>Content-Type: application/x-protobuf</c>. Same streams,
    /// lines and metadata as the JSON form; labels in Prometheus syntax.
    /// </summary>
    public static Built BuildProtobuf(ExportLogsServiceRequest request, IReadOnlyList<string> labelAttributes, bool structuredMetadata, TimeProvider? time = null)
    {
        var streams = Group(request, labelAttributes, time, out int entries);
        var push = new PushRequest();
        foreach (var (labels, list) in streams)
        {
            var stream = new StreamAdapter { Labels = LabelsText(labels) };
            foreach (var (ns, record, scope) in list)
            {
                var entry = new EntryAdapter
                {
                    Timestamp = new Timestamp { Seconds = (long)(ns / 1_000_000_000), Nanos = (int)(ns % 1_000_000_000) },
                    Line = Line(record.Body),
                };
                if (structuredMetadata)
                {
                    foreach (var (name, value) in Metadata(record, scope))
                    {
                        entry.StructuredMetadata.Add(new LabelPairAdapter { Name = name, Value = value });
                    }
                }

                stream.Entries.Add(entry);
            }

            push.Streams.Add(stream);
        }

        return new Built(push.ToByteArray(), entries, streams.Count);
    }

    /// <summary>Labels in Prometheus/LogQL selector syntax, <c>{a="b", c="d"}</c>, values quoted as Go does.</summary>
    internal static string LabelsText(SortedDictionary<string, string> labels)
    {
        var text = new StringBuilder("{");
        foreach (var (name, value) in labels)
        {
            if (text.Length > 1)
            {
                text.Append(", ");
            }

            text.Append(name).Append("=\"");
            foreach (char c in value)
            {
                switch (c)
                {
                    case '\\': text.Append("\\\\"); break;
                    case '"': text.Append("\\\""); break;
                    case '\n': text.Append("\\n"); break;
                    case '\r': text.Append("\\r"); break;
                    case '\t': text.Append("\\t"); break;
                    case < ' ': text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture)); break;
                    default: text.Append(c); break;
                }
            }

            text.Append('"');
        }

        return text.Append('}').ToString();
    }

    /// <summary>Records grouped into streams by their labels, each stream's entries in time order; empty streams left out.</summary>
    private static List<(SortedDictionary<string, string> Labels, List<(ulong Ns, LogRecord Record, InstrumentationScope? Scope)> Entries)> Group(
        ExportLogsServiceRequest request, IReadOnlyList<string> labelAttributes, TimeProvider? time, out int entries)
    {
        long nowNs = ((time ?? TimeProvider.System).GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks * 100;
        var streams = new Dictionary<string, (SortedDictionary<string, string> Labels, List<(ulong Ns, LogRecord Record, InstrumentationScope? Scope)> Entries)>(StringComparer.Ordinal);
        entries = 0;
        foreach (var rl in request.ResourceLogs)
        {
            var labels = StreamLabels(rl.Resource?.Attributes, labelAttributes);
            string key = string.Join('\xff', labels.Select(kv => kv.Key + "\xfe" + kv.Value));
            if (!streams.TryGetValue(key, out var stream))
            {
                stream = (labels, []);
                streams.Add(key, stream);
            }

            foreach (var sl in rl.ScopeLogs)
            {
                foreach (var record in sl.LogRecords)
                {
                    ulong ns = record.TimeUnixNano != 0 ? record.TimeUnixNano
                        : record.ObservedTimeUnixNano != 0 ? record.ObservedTimeUnixNano
                        : (ulong)nowNs;
                    stream.Entries.Add((ns, record, sl.Scope));
                    entries++;
                }
            }
        }

        return streams.Values
            .Where(s => s.Entries.Count > 0)
            .Select(s => (s.Labels, s.Entries.OrderBy(e => e.Ns).ToList()))
            .ToList();
    }

    /// <summary>A body as a log line: strings as they are, other values as JSON, none as empty.</summary>
    public static string Line(AnyValue? body) => body?.ValueCase switch
    {
        null or AnyValue.ValueOneofCase.None => "",
        AnyValue.ValueOneofCase.StringValue => body.StringValue,
        _ => AnyValueText.ToJson(body),
    };

    /// <summary>Loki's severity text for a record: its own text, or the severity number's short name.</summary>
    public static string SeverityText(LogRecord record)
    {
        if (!string.IsNullOrEmpty(record.SeverityText))
        {
            return record.SeverityText;
        }

        return (int)record.SeverityNumber switch
        {
            >= 1 and <= 4 => "TRACE",
            >= 5 and <= 8 => "DEBUG",
            >= 9 and <= 12 => "INFO",
            >= 13 and <= 16 => "WARN",
            >= 17 and <= 20 => "ERROR",
            >= 21 and <= 24 => "FATAL",
            _ => "",
        };
    }

    internal static SortedDictionary<string, string> StreamLabels(RepeatedField<KeyValue>? resource, IReadOnlyList<string> labelAttributes)
    {
        var labels = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (resource != null)
        {
            foreach (string attribute in labelAttributes)
            {
                foreach (var kv in resource)
                {
                    if (kv.Key == attribute)
                    {
                        string name = PrometheusNaming.LabelName(attribute);
                        string value = AnyValueText.ToText(kv.Value);
                        if (name.Length > 0 && value.Length > 0)
                        {
                            labels[name] = labels.TryGetValue(name, out var existing) ? existing + ";" + value : value;
                        }

                        break;
                    }
                }
            }
        }

        if (labels.Count == 0)
        {
            // Loki needs at least one label.
            string? service = null;
            if (resource != null)
            {
                foreach (var kv in resource)
                {
                    if (kv.Key == "service.name")
                    {
                        service = AnyValueText.ToText(kv.Value);
                    }
                }
            }

            labels[ServiceNameLabel] = string.IsNullOrEmpty(service) ? UnknownService : service;
        }

        return labels;
    }

    /// <summary>Structured metadata of one entry (Loki 3), the names Loki's own OTLP endpoint uses.</summary>
    private static IEnumerable<(string Name, string Value)> Metadata(LogRecord record, InstrumentationScope? scope)
    {
        if (record.TraceId.Length == 16)
        {
            yield return ("trace_id", Convert.ToHexStringLower(record.TraceId.Span));
        }

        if (record.SpanId.Length == 8)
        {
            yield return ("span_id", Convert.ToHexStringLower(record.SpanId.Span));
        }

        string severity = SeverityText(record);
        if (severity.Length > 0)
        {
            yield return ("severity_text", severity);
        }

        if (record.SeverityNumber != SeverityNumber.Unspecified)
        {
            yield return ("severity_number", ((int)record.SeverityNumber).ToString(CultureInfo.InvariantCulture));
        }

        if (!string.IsNullOrEmpty(scope?.Name))
        {
            yield return ("scope_name", scope.Name);
        }

        foreach (var kv in record.Attributes)
        {
            string name = PrometheusNaming.LabelName(kv.Key);
            if (name is "" or "trace_id" or "span_id" or "severity_text" or "severity_number" or "scope_name")
            {
                continue;
            }

            yield return (name, AnyValueText.ToText(kv.Value));
        }
    }
}
