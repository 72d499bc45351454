using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Resource.V1;
using OpenTelemetry.Proto.Trace.V1;

namespace ServerlessOtlp.Benchmarks.Otlp;

/// <summary>
/// Export requests shaped like what the OpenTelemetry .NET SDK's batch processor sends from an
/// ASP.NET Core service: one resource with the SDK's usual attributes, two scopes (server and
/// client instrumentation), spans with HTTP semantic-convention attributes and one event each,
/// five spans per trace. Deterministic, so every run measures the same bytes.
/// </summary>
public static class SdkShapedTraces
{
    // The SDK's BatchExportProcessor exports at most 512 spans per batch by default; a busy
    // service fills batches well below that between 5 s ticks, so 100 is the common case.
    private const int SpansPerTrace = 5;

    private static readonly Dictionary<int, byte[]> Cache = [];

    /// <summary>The serialized request with <paramref name="spanCount"/> spans (cached: the columns ask for its size).</summary>
    public static byte[] Bytes(int spanCount)
    {
        lock (Cache)
        {
            if (!Cache.TryGetValue(spanCount, out var bytes))
            {
                bytes = Build(spanCount).ToByteArray();
                Cache[spanCount] = bytes;
            }

            return bytes;
        }
    }

    public static ExportTraceServiceRequest Build(int spanCount)
    {
        var random = new Random(42);
        var resource = new Resource
        {
            Attributes =
            {
                Str("service.name", "checkout-api"),
                Str("service.namespace", "shop"),
                Str("service.version", "2.14.3"),
                Str("service.instance.id", "5f0c3a9e-8d2b-4c61-a0f7-3e9b1d2c4a58"),
                Str("deployment.environment.name", "production"),
                Str("host.name", "checkout-api-7d9f8b6c5-x2k4q"),
                Str("telemetry.sdk.name", "opentelemetry"),
                Str("telemetry.sdk.language", "dotnet"),
                Str("telemetry.sdk.version", "1.12.0"),
            },
        };

        var server = new ScopeSpans { Scope = new InstrumentationScope { Name = "Microsoft.AspNetCore", Version = "10.0.0" } };
        var client = new ScopeSpans { Scope = new InstrumentationScope { Name = "System.Net.Http", Version = "10.0.0" } };
        var traceId = new byte[16];
        var spanId = new byte[8];
        var parentId = new byte[8];
        ulong start = 1_760_000_000_000_000_000UL;
        for (int i = 0; i < spanCount; i++)
        {
            bool root = i % SpansPerTrace == 0;
            if (root)
            {
                random.NextBytes(traceId);
                random.NextBytes(parentId);
            }

            random.NextBytes(spanId);
            start += (ulong)random.Next(50_000, 2_000_000);
            var span = new Span
            {
                TraceId = ByteString.CopyFrom(traceId),
                SpanId = ByteString.CopyFrom(spanId),
                ParentSpanId = root ? ByteString.Empty : ByteString.CopyFrom(parentId),
                Flags = 0x101,
                Name = root ? "GET /api/orders/{id}" : "GET",
                Kind = root ? Span.Types.SpanKind.Server : Span.Types.SpanKind.Client,
                StartTimeUnixNano = start,
                EndTimeUnixNano = start + (ulong)random.Next(200_000, 40_000_000),
                Attributes =
                {
                    Str("http.request.method", "GET"),
                    Str("url.path", $"/api/orders/{random.Next(100_000, 999_999)}"),
                    Str("url.scheme", "https"),
                    Int("http.response.status_code", 200),
                    Str("server.address", root ? "checkout.shop.example" : "inventory.shop.svc.cluster.local"),
                    Int("server.port", 443),
                    Str("network.protocol.version", "2"),
                    Str(root ? "http.route" : "peer.service", root ? "/api/orders/{id}" : "inventory"),
                },
                Events =
                {
                    new Span.Types.Event
                    {
                        TimeUnixNano = start + 100_000,
                        Name = root ? "request.body.read" : "dns.resolved",
                        Attributes = { Int("bytes", random.Next(0, 4096)) },
                    },
                },
                Status = new Status { Code = Status.Types.StatusCode.Unset },
            };
            (root ? server : client).Spans.Add(span);
        }

        var resourceSpans = new ResourceSpans
        {
            Resource = resource,
            SchemaUrl = "https://opentelemetry.io/schemas/1.36.0",
            ScopeSpans = { server, client },
        };
        return new ExportTraceServiceRequest { ResourceSpans = { resourceSpans } };
    }

    private static KeyValue Str(string key, string value) => new() { Key = key, Value = new AnyValue { StringValue = value } };

    private static KeyValue Int(string key, long value) => new() { Key = key, Value = new AnyValue { IntValue = value } };
}
