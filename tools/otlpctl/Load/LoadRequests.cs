using System.Security.Cryptography;
using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Logs.V1;
using OpenTelemetry.Proto.Metrics.V1;
using OpenTelemetry.Proto.Resource.V1;
using OpenTelemetry.Proto.Trace.V1;
using ServerlessOtlp.Otlp;

namespace ServerlessOtlp.Cli.Load;

/// <summary>
/// The export requests a load run sends, built and serialized before the clock starts so the
/// generator measures the gateway, not itself. Every span/point/record carries a unique
/// <c>load.id</c>, every trace a random trace id (so traces spread over the partitions).
/// </summary>
internal static class LoadRequests
{
    /// <summary>Distinct requests in the pool; sent round-robin.</summary>
    public const int PoolSize = 64;

    // Spans per trace: several spans share a trace id, as real traces do.
    private const int SpansPerTrace = 10;

    public static byte[][] Build(Signal signal, int itemsPerRequest, int poolSize = PoolSize)
    {
        string run = Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant();
        var pool = new byte[poolSize][];
        for (int r = 0; r < poolSize; r++)
        {
            IMessage message = signal switch
            {
                Signal.Traces => Traces(run, r, itemsPerRequest),
                Signal.Metrics => Metrics(run, r, itemsPerRequest),
                _ => Logs(run, r, itemsPerRequest),
            };
            pool[r] = message.ToByteArray();
        }

        return pool;
    }

    private static Resource NewResource(string run, int request) => new()
    {
        Attributes =
        {
            Attr("service.name", "otlpctl-load"),
            Attr("load.run", run),
            // Metrics and logs without trace ids are partitioned by resource: vary it per request.
            Attr("load.request", request.ToString()),
        },
    };

    private static ExportTraceServiceRequest Traces(string run, int request, int items)
    {
        ulong now = UnixNanos();
        var scope = new ScopeSpans { Scope = new InstrumentationScope { Name = "otlpctl.load", Version = "1" } };
        ByteString traceId = ByteString.Empty;
        ByteString parent = ByteString.Empty;
        for (int i = 0; i < items; i++)
        {
            if (i % SpansPerTrace == 0)
            {
                traceId = ByteString.CopyFrom(RandomNumberGenerator.GetBytes(16));
                parent = ByteString.Empty;
            }

            var spanId = ByteString.CopyFrom(RandomNumberGenerator.GetBytes(8));
            scope.Spans.Add(new Span
            {
                TraceId = traceId,
                SpanId = spanId,
                ParentSpanId = parent,
                Name = parent.IsEmpty ? "GET /load" : "load.child",
                Kind = parent.IsEmpty ? Span.Types.SpanKind.Server : Span.Types.SpanKind.Internal,
                StartTimeUnixNano = now,
                EndTimeUnixNano = now + 1_000_000,
                Attributes = { Attr("load.id", $"{run}-{request}-{i}"), Attr("http.route", "/load") },
                Status = new Status { Code = Status.Types.StatusCode.Ok },
            });
            if (parent.IsEmpty)
            {
                parent = spanId;
            }
        }

        return new ExportTraceServiceRequest { ResourceSpans = { new ResourceSpans { Resource = NewResource(run, request), ScopeSpans = { scope } } } };
    }

    private static ExportMetricsServiceRequest Metrics(string run, int request, int items)
    {
        ulong now = UnixNanos();
        var gauge = new Gauge();
        for (int i = 0; i < items; i++)
        {
            gauge.DataPoints.Add(new NumberDataPoint
            {
                TimeUnixNano = now,
                AsDouble = i,
                Attributes = { Attr("load.id", $"{run}-{request}-{i}") },
            });
        }

        var metric = new Metric { Name = "otlpctl.load.value", Unit = "1", Gauge = gauge };
        return new ExportMetricsServiceRequest
        {
            ResourceMetrics = { new ResourceMetrics { Resource = NewResource(run, request), ScopeMetrics = { new ScopeMetrics { Scope = new InstrumentationScope { Name = "otlpctl.load" }, Metrics = { metric } } } } },
        };
    }

    private static ExportLogsServiceRequest Logs(string run, int request, int items)
    {
        ulong now = UnixNanos();
        var scope = new ScopeLogs { Scope = new InstrumentationScope { Name = "otlpctl.load" } };
        for (int i = 0; i < items; i++)
        {
            scope.LogRecords.Add(new LogRecord
            {
                TimeUnixNano = now,
                ObservedTimeUnixNano = now,
                SeverityNumber = SeverityNumber.Info,
                SeverityText = "INFO",
                Body = new AnyValue { StringValue = $"load record {i}" },
                TraceId = ByteString.CopyFrom(RandomNumberGenerator.GetBytes(16)),
                SpanId = ByteString.CopyFrom(RandomNumberGenerator.GetBytes(8)),
                Attributes = { Attr("load.id", $"{run}-{request}-{i}") },
            });
        }

        return new ExportLogsServiceRequest { ResourceLogs = { new ResourceLogs { Resource = NewResource(run, request), ScopeLogs = { scope } } } };
    }

    private static KeyValue Attr(string key, string value) => new() { Key = key, Value = new AnyValue { StringValue = value } };

    private static ulong UnixNanos() => (ulong)(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000);
}
