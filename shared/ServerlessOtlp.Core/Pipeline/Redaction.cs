using System.Text.RegularExpressions;
using Google.Protobuf;
using Google.Protobuf.Collections;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Metrics.V1;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Pipeline;

/// <summary>
/// The tenant redaction presets, applied before the transforms to every attribute (resource,
/// scope, span, span event, link, log record, data point, nested maps and lists) and log body:
/// <list type="bullet">
/// <item><c>credentials</c>: the whole value of an attribute whose key names a credential
/// (authorization, cookie, API key, token, password, secret) becomes <see cref="Mask"/>.</item>
/// <item><c>card-numbers</c>: 13 to 19 digits (spaces or dashes between them allowed) passing the
/// Luhn check become <see cref="CardMask"/>.</item>
/// <item><c>emails</c>: e-mail addresses become <see cref="EmailMask"/>.</item>
/// </list>
/// Each masked value (or each masked match inside a string) counts once.
/// </summary>
internal static partial class Redaction
{
    public const string Mask = "[REDACTED]";
    public const string CardMask = "[REDACTED-CARD]";
    public const string EmailMask = "[REDACTED-EMAIL]";

    /// <summary>Runs the presets on <paramref name="request"/> in place; returns how many values were masked.</summary>
    public static int Apply(IReadOnlyList<RedactionPreset> presets, IMessage request)
    {
        var walker = new Walker(presets.Contains(RedactionPreset.Credentials), presets.Contains(RedactionPreset.CardNumbers), presets.Contains(RedactionPreset.Emails));
        switch (request)
        {
            case ExportTraceServiceRequest traces:
                foreach (var rs in traces.ResourceSpans)
                {
                    walker.Map(rs.Resource?.Attributes);
                    foreach (var ss in rs.ScopeSpans)
                    {
                        walker.Map(ss.Scope?.Attributes);
                        foreach (var span in ss.Spans)
                        {
                            walker.Map(span.Attributes);
                            foreach (var e in span.Events)
                            {
                                walker.Map(e.Attributes);
                            }

                            foreach (var link in span.Links)
                            {
                                walker.Map(link.Attributes);
                            }
                        }
                    }
                }

                break;
            case ExportLogsServiceRequest logs:
                foreach (var rl in logs.ResourceLogs)
                {
                    walker.Map(rl.Resource?.Attributes);
                    foreach (var sl in rl.ScopeLogs)
                    {
                        walker.Map(sl.Scope?.Attributes);
                        foreach (var log in sl.LogRecords)
                        {
                            walker.Map(log.Attributes);
                            if (log.Body is { } body)
                            {
                                walker.Value(body);
                            }
                        }
                    }
                }

                break;
            case ExportMetricsServiceRequest metrics:
                foreach (var rm in metrics.ResourceMetrics)
                {
                    walker.Map(rm.Resource?.Attributes);
                    foreach (var sm in rm.ScopeMetrics)
                    {
                        walker.Map(sm.Scope?.Attributes);
                        foreach (var metric in sm.Metrics)
                        {
                            PointAttributes(metric, walker);
                        }
                    }
                }

                break;
        }

        return walker.Count;
    }

    private static void PointAttributes(Metric metric, Walker walker)
    {
        switch (metric.DataCase)
        {
            case Metric.DataOneofCase.Gauge: foreach (var p in metric.Gauge.DataPoints) { walker.Map(p.Attributes); } break;
            case Metric.DataOneofCase.Sum: foreach (var p in metric.Sum.DataPoints) { walker.Map(p.Attributes); } break;
            case Metric.DataOneofCase.Histogram: foreach (var p in metric.Histogram.DataPoints) { walker.Map(p.Attributes); } break;
            case Metric.DataOneofCase.ExponentialHistogram: foreach (var p in metric.ExponentialHistogram.DataPoints) { walker.Map(p.Attributes); } break;
            case Metric.DataOneofCase.Summary: foreach (var p in metric.Summary.DataPoints) { walker.Map(p.Attributes); } break;
        }
    }

    /// <summary>
    /// Keys naming a credential: HTTP header attributes (<c>http.request.header.authorization</c>,
    /// <c>…cookie</c>, <c>…x-api-key</c>, <c>set-cookie</c>) and anything with token, password,
    /// passwd, secret or api key in its name. Case-insensitive.
    /// </summary>
    public static bool IsCredentialKey(string key) => CredentialKeyRegex().IsMatch(key);

    [GeneratedRegex(@"authorization|cookie|api[-_.]?key|token|passw(or)?d|secret", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex CredentialKeyRegex();

    // Runs of 13–19 digits, single spaces or dashes between them, not inside a longer number.
    [GeneratedRegex(@"(?<![\d])\d(?:[ -]?\d){12,18}(?![\d])", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 100)]
    private static partial Regex CardCandidateRegex();

    [GeneratedRegex(@"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 100)]
    private static partial Regex EmailRegex();

    /// <summary>The Luhn checksum of the digits of <paramref name="candidate"/> (separators skipped).</summary>
    public static bool IsLuhnValid(ReadOnlySpan<char> candidate)
    {
        int sum = 0;
        bool doubled = false;
        int digits = 0;
        for (int i = candidate.Length - 1; i >= 0; i--)
        {
            char c = candidate[i];
            if (!char.IsAsciiDigit(c))
            {
                continue;
            }

            int d = c - '0';
            if (doubled)
            {
                d *= 2;
                if (d > 9)
                {
                    d -= 9;
                }
            }

            sum += d;
            doubled = !doubled;
            digits++;
        }

        return digits is >= 13 and <= 19 && sum % 10 == 0;
    }

    private sealed class Walker(bool credentials, bool cards, bool emails)
    {
        public int Count { get; private set; }

        public void Map(RepeatedField<KeyValue>? map)
        {
            if (map is null)
            {
                return;
            }

            foreach (var kv in map)
            {
                if (kv.Value is null)
                {
                    continue;
                }

                if (credentials && IsCredentialKey(kv.Key) && kv.Value.ValueCase != AnyValue.ValueOneofCase.None
                    && !(kv.Value.ValueCase == AnyValue.ValueOneofCase.StringValue && kv.Value.StringValue == Mask))
                {
                    kv.Value = new AnyValue { StringValue = Mask };
                    Count++;
                    continue;
                }

                Value(kv.Value);
            }
        }

        public void Value(AnyValue value)
        {
            switch (value.ValueCase)
            {
                case AnyValue.ValueOneofCase.StringValue:
                    value.StringValue = String(value.StringValue);
                    break;
                case AnyValue.ValueOneofCase.KvlistValue:
                    Map(value.KvlistValue.Values);
                    break;
                case AnyValue.ValueOneofCase.ArrayValue:
                    foreach (var item in value.ArrayValue.Values)
                    {
                        Value(item);
                    }

                    break;
            }
        }

        private string String(string text)
        {
            if (cards && text.AsSpan().ContainsAnyInRange('0', '9'))
            {
                text = CardCandidateRegex().Replace(text, m =>
                {
                    if (!IsLuhnValid(m.ValueSpan))
                    {
                        return m.Value;
                    }

                    Count++;
                    return CardMask;
                });
            }

            if (emails && text.Contains('@', StringComparison.Ordinal))
            {
                text = EmailRegex().Replace(text, _ =>
                {
                    Count++;
                    return EmailMask;
                });
            }

            return text;
        }
    }
}
