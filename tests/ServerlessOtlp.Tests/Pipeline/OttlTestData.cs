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
using ServerlessOtlp.Pipeline;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Tests.Pipeline;

/// <summary>
/// Requests shaped like what the OpenTelemetry .NET SDK emits (service.name and telemetry.sdk.*
/// resource attributes, an ActivitySource scope, http.* / url.* / db.* span attributes, an
/// exception event), built with the generated types.
/// </summary>
internal static class OttlTestData
{
    public static KeyValue Kv(string key, object value) => new()
    {
        Key = key,
        Value = value switch
        {
            string s => new AnyValue { StringValue = s },
            int i => new AnyValue { IntValue = i },
            long l => new AnyValue { IntValue = l },
            double d => new AnyValue { DoubleValue = d },
            bool b => new AnyValue { BoolValue = b },
            AnyValue a => a,
            _ => throw new ArgumentException("unsupported", nameof(value)),
        },
    };

    public static Resource SdkResource(string service, string environment) => new()
    {
        Attributes =
        {
            Kv("service.name", service),
            Kv("service.instance.id", "2b1c9d9e-instance"),
            Kv("deployment.environment", environment),
            Kv("telemetry.sdk.name", "opentelemetry"),
            Kv("telemetry.sdk.language", "dotnet"),
            Kv("telemetry.sdk.version", "1.12.0"),
        },
    };

    public static Span ServerSpan(string name, string method, string path, int status, int seed) => new()
    {
        TraceId = ByteString.CopyFrom(Enumerable.Range(seed, 16).Select(i => (byte)i).ToArray()),
        SpanId = ByteString.CopyFrom(Enumerable.Range(seed, 8).Select(i => (byte)(i + 100)).ToArray()),
        Name = name,
        Kind = Span.Types.SpanKind.Server,
        StartTimeUnixNano = 1_700_000_000_000_000_000,
        EndTimeUnixNano = 1_700_000_000_250_000_000,
        Attributes =
        {
            Kv("http.request.method", method),
            Kv("url.path", path),
            Kv("url.scheme", "https"),
            Kv("http.route", path),
            Kv("http.response.status_code", status),
            Kv("server.address", "shop.example.com"),
            Kv("user_agent.original", "curl/8.5.0"),
        },
        Status = status >= 500 ? new Status { Code = Status.Types.StatusCode.Error } : null,
    };

    /// <summary>
    /// Two resources: checkout (prod) with GET /health, POST /orders/12345 (500, with an exception
    /// event) and a client DB span; and cart (staging) with one GET /cart.
    /// </summary>
    public static ExportTraceServiceRequest Traces()
    {
        var orders = ServerSpan("POST /orders/{id}", "POST", "/orders/12345", 500, 2);
        orders.Events.Add(new Span.Types.Event
        {
            Name = "exception",
            TimeUnixNano = 1_700_000_000_200_000_000,
            Attributes = { Kv("exception.type", "System.InvalidOperationException"), Kv("exception.message", "out of stock") },
        });
        orders.Events.Add(new Span.Types.Event { Name = "retry", Attributes = { Kv("attempt", 1) } });
        var db = new Span
        {
            TraceId = orders.TraceId,
            SpanId = ByteString.CopyFrom(new byte[] { 9, 9, 9, 9, 9, 9, 9, 9 }),
            ParentSpanId = orders.SpanId,
            Name = "SELECT orders",
            Kind = Span.Types.SpanKind.Client,
            Attributes = { Kv("db.system", "postgresql"), Kv("db.query.text", "SELECT * FROM orders WHERE id = $1"), Kv("duration.ratio", 0.5) },
        };
        return new ExportTraceServiceRequest
        {
            ResourceSpans =
            {
                new ResourceSpans
                {
                    Resource = SdkResource("checkout", "prod"),
                    ScopeSpans =
                    {
                        new ScopeSpans
                        {
                            Scope = new InstrumentationScope { Name = "Checkout.Api", Version = "1.0.0" },
                            Spans = { ServerSpan("GET /health", "GET", "/health", 200, 1), orders },
                        },
                        new ScopeSpans
                        {
                            Scope = new InstrumentationScope { Name = "Npgsql", Version = "8.0.3" },
                            Spans = { db },
                        },
                    },
                },
                new ResourceSpans
                {
                    Resource = SdkResource("cart", "staging"),
                    ScopeSpans =
                    {
                        new ScopeSpans
                        {
                            Scope = new InstrumentationScope { Name = "Cart.Api" },
                            Spans = { ServerSpan("GET /cart", "GET", "/cart", 200, 3) },
                        },
                    },
                },
            },
        };
    }

    public static IEnumerable<Span> Spans(ExportTraceServiceRequest request) =>
        request.ResourceSpans.SelectMany(r => r.ScopeSpans).SelectMany(s => s.Spans);

    public static Span SpanNamed(ExportTraceServiceRequest request, string name) => Spans(request).Single(s => s.Name == name);

    public static AnyValue? Attr(Google.Protobuf.Collections.RepeatedField<KeyValue> map, string key) => map.FirstOrDefault(kv => kv.Key == key)?.Value;

    /// <summary>Logs as the SDK's ILogger bridge emits them: severity, body, attributes, trace context.</summary>
    public static ExportLogsServiceRequest Logs() => new()
    {
        ResourceLogs =
        {
            new ResourceLogs
            {
                Resource = SdkResource("checkout", "prod"),
                ScopeLogs =
                {
                    new ScopeLogs
                    {
                        Scope = new InstrumentationScope { Name = "Checkout.Api.OrdersController" },
                        LogRecords =
                        {
                            Log(SeverityNumber.Debug, "Debug", "cache miss for order 12345"),
                            Log(SeverityNumber.Info, "Information", "order 12345 placed by jane.doe@example.com"),
                            Log(SeverityNumber.Error, "Error", "payment failed for card 4111 1111 1111 1111"),
                        },
                    },
                },
            },
        },
    };

    private static LogRecord Log(SeverityNumber severity, string text, string body) => new()
    {
        TimeUnixNano = 1_700_000_000_000_000_000,
        ObservedTimeUnixNano = 1_700_000_000_000_000_100,
        SeverityNumber = severity,
        SeverityText = text,
        Body = new AnyValue { StringValue = body },
        Attributes = { Kv("order.id", 12345), Kv("http.request.header.authorization", "Bearer abc.def") },
        TraceId = ByteString.CopyFrom(new byte[16] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 }),
        SpanId = ByteString.CopyFrom(new byte[8] { 1, 2, 3, 4, 5, 6, 7, 8 }),
    };

    public static IEnumerable<LogRecord> LogRecords(ExportLogsServiceRequest request) =>
        request.ResourceLogs.SelectMany(r => r.ScopeLogs).SelectMany(s => s.LogRecords);

    /// <summary>An http.server.request.duration histogram (2 points) and a process.cpu.count gauge (1 point).</summary>
    public static ExportMetricsServiceRequest Metrics() => new()
    {
        ResourceMetrics =
        {
            new ResourceMetrics
            {
                Resource = SdkResource("checkout", "prod"),
                ScopeMetrics =
                {
                    new ScopeMetrics
                    {
                        Scope = new InstrumentationScope { Name = "Microsoft.AspNetCore.Hosting" },
                        Metrics =
                        {
                            new Metric
                            {
                                Name = "http.server.request.duration",
                                Unit = "s",
                                Histogram = new Histogram
                                {
                                    AggregationTemporality = AggregationTemporality.Cumulative,
                                    DataPoints =
                                    {
                                        new HistogramDataPoint { Count = 3, Sum = 0.3, Attributes = { Kv("http.route", "/health"), Kv("http.response.status_code", 200) } },
                                        new HistogramDataPoint { Count = 1, Sum = 2.5, Attributes = { Kv("http.route", "/orders/{id}"), Kv("http.response.status_code", 500) } },
                                    },
                                },
                            },
                            new Metric
                            {
                                Name = "process.cpu.count",
                                Gauge = new Gauge { DataPoints = { new NumberDataPoint { AsInt = 8 } } },
                            },
                        },
                    },
                },
            },
        },
    };

    public static TenantConfig Tenant(
        Signal signal,
        IReadOnlyList<string>? transforms = null,
        IReadOnlyList<string>? filters = null,
        TransformErrorMode mode = TransformErrorMode.Propagate,
        long version = 1)
    {
        OttlStatements? For(IReadOnlyList<string>? list) => list is null ? null : signal switch
        {
            Signal.Traces => new OttlStatements { Traces = list },
            Signal.Metrics => new OttlStatements { Metrics = list },
            _ => new OttlStatements { Logs = list },
        };

        return new TenantConfig { Id = "acme", Transforms = For(transforms), Filters = For(filters), TransformErrorMode = mode, Version = version };
    }

    public static TransformResult Transform(IMessage request, Signal signal, params string[] statements) =>
        new TenantTransformer().Apply(Tenant(signal, transforms: statements), signal, request);
}
