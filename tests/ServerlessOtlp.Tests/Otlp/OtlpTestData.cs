using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Logs.V1;
using OpenTelemetry.Proto.Metrics.V1;
using OpenTelemetry.Proto.Resource.V1;
using OpenTelemetry.Proto.Trace.V1;

namespace ServerlessOtlp.Tests.Otlp;

/// <summary>Random but reproducible OTLP requests for property tests and benchmarks.</summary>
public static class OtlpTestData
{
    public static ExportTraceServiceRequest Traces(int seed, int resources = 3, int scopes = 2, int spans = 20, double invalidShare = 0.1)
    {
        var rnd = new Random(seed);
        var req = new ExportTraceServiceRequest();
        for (int r = 0; r < resources; r++)
        {
            var rs = new ResourceSpans { Resource = Resource(rnd, r), SchemaUrl = rnd.Next(2) == 0 ? "" : "https://opentelemetry.io/schemas/1.21.0" };
            for (int s = 0; s < scopes; s++)
            {
                var ss = new ScopeSpans { Scope = new InstrumentationScope { Name = $"scope-{s}", Version = "1.0" } };
                int count = rnd.Next(0, spans + 1);
                for (int i = 0; i < count; i++)
                {
                    ss.Spans.Add(NewSpan(rnd, invalidShare));
                }

                rs.ScopeSpans.Add(ss);
            }

            req.ResourceSpans.Add(rs);
        }

        return req;
    }

    public static Span NewSpan(Random rnd, double invalidShare = 0)
    {
        byte[] traceId;
        double roll = rnd.NextDouble();
        if (roll < invalidShare / 2)
        {
            traceId = new byte[8];
            rnd.NextBytes(traceId);
        }
        else if (roll < invalidShare)
        {
            traceId = new byte[16];
        }
        else
        {
            traceId = new byte[16];
            rnd.NextBytes(traceId);
        }

        var spanId = new byte[8];
        rnd.NextBytes(spanId);
        long start = 1_700_000_000_000_000_000L + rnd.Next();
        var span = new Span
        {
            TraceId = ByteString.CopyFrom(traceId),
            SpanId = ByteString.CopyFrom(spanId),
            Name = "GET /api/" + rnd.Next(100),
            Kind = OpenTelemetry.Proto.Trace.V1.Span.Types.SpanKind.Server,
            StartTimeUnixNano = (ulong)start,
            EndTimeUnixNano = (ulong)(start + rnd.Next(1, 1_000_000)),
            Status = new Status { Code = rnd.Next(10) == 0 ? Status.Types.StatusCode.Error : Status.Types.StatusCode.Unset },
        };
        span.Attributes.Add(new KeyValue { Key = "http.request.method", Value = new AnyValue { StringValue = "GET" } });
        span.Attributes.Add(new KeyValue { Key = "http.response.status_code", Value = new AnyValue { IntValue = 200 } });
        span.Attributes.Add(new KeyValue { Key = "id", Value = new AnyValue { StringValue = Guid.NewGuid().ToString("N") } });
        return span;
    }

    public static Resource Resource(Random rnd, int index)
    {
        var res = new Resource();
        res.Attributes.Add(new KeyValue { Key = "service.name", Value = new AnyValue { StringValue = $"svc-{index}" } });
        res.Attributes.Add(new KeyValue { Key = "service.instance.id", Value = new AnyValue { StringValue = rnd.Next().ToString() } });
        res.Attributes.Add(new KeyValue { Key = "host.name", Value = new AnyValue { StringValue = "host-" + rnd.Next(4) } });
        return res;
    }

    public static ExportMetricsServiceRequest Metrics(int seed, int resources = 3, int metrics = 5, int points = 3)
    {
        var rnd = new Random(seed);
        var req = new ExportMetricsServiceRequest();
        for (int r = 0; r < resources; r++)
        {
            var rm = new ResourceMetrics { Resource = Resource(rnd, r) };
            var sm = new ScopeMetrics { Scope = new InstrumentationScope { Name = "meter" } };
            for (int m = 0; m < metrics; m++)
            {
                var gauge = new Gauge();
                for (int p = 0; p < points; p++)
                {
                    gauge.DataPoints.Add(new NumberDataPoint { AsDouble = rnd.NextDouble(), TimeUnixNano = 1 });
                }

                sm.Metrics.Add(new Metric { Name = $"m{m}", Unit = "ms", Gauge = gauge });
            }

            rm.ScopeMetrics.Add(sm);
            req.ResourceMetrics.Add(rm);
        }

        return req;
    }

    public static ExportLogsServiceRequest Logs(int seed, int resources = 2, int records = 10)
    {
        var rnd = new Random(seed);
        var req = new ExportLogsServiceRequest();
        for (int r = 0; r < resources; r++)
        {
            var rl = new ResourceLogs { Resource = Resource(rnd, r) };
            var sl = new ScopeLogs { Scope = new InstrumentationScope { Name = "logger" } };
            for (int i = 0; i < records; i++)
            {
                var rec = new LogRecord { Body = new AnyValue { StringValue = "hello " + i }, SeverityNumber = SeverityNumber.Info, TimeUnixNano = 1 };
                if (rnd.Next(2) == 0)
                {
                    var t = new byte[16];
                    rnd.NextBytes(t);
                    rec.TraceId = ByteString.CopyFrom(t);
                }

                sl.LogRecords.Add(rec);
            }

            rl.ScopeLogs.Add(sl);
            req.ResourceLogs.Add(rl);
        }

        return req;
    }
}
