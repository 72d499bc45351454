using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Logs.V1;
using OpenTelemetry.Proto.Resource.V1;
using ServerlessOtlp.Export;
using ServerlessOtlp.Export.Loki;
using ServerlessOtlp.Export.Loki.Logproto;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tenants;
using Snappier;

namespace ServerlessOtlp.Tests.Export;

/// <summary>The Loki exporter against an in-test push receiver that decodes what it gets.</summary>
public sealed class LokiExporterTests
{
    private static readonly byte[] TraceId = Convert.FromHexString("0af7651916cd43dd8448eb211c80319c");
    private static readonly byte[] SpanId = Convert.FromHexString("b7ad6b7169203331");

    [Fact]
    public async Task Logs_are_pushed_as_streams_with_labels_lines_and_structured_metadata()
    {
        await using var receiver = await CapturingHttpReceiver.StartAsync();
        var exporter = new LokiExporter(TestEgress.LoopbackServices);
        var outcome = await exporter.ExportAsync(Export(Logs(), new Uri(receiver.Uri, "/"), ["service.name", "deployment.environment", "k8s.pod.name"], DestinationEncoding.Json));
        Assert.Equal(ExportStatus.Success, outcome.Status);

        var request = Assert.Single(receiver.Requests);
        Assert.Equal("POST", request.Method);
        Assert.Equal("/loki/api/v1/push", request.Path); // the default path
        Assert.Equal("acme", request.Headers["X-Scope-OrgID"]);
        Assert.StartsWith("application/json", request.Headers["Content-Type"], StringComparison.Ordinal);

        using var json = JsonDocument.Parse(request.Body);
        var streams = json.RootElement.GetProperty("streams").EnumerateArray().ToList();
        Assert.Equal(2, streams.Count);
        var checkout = streams.Single(s => s.GetProperty("stream").GetProperty("service_name").GetString() == "checkout");
        var labels = checkout.GetProperty("stream").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
        Assert.Equal(new Dictionary<string, string?> { ["service_name"] = "checkout", ["deployment_environment"] = "prod" }, labels); // absent k8s.pod.name: no label

        var values = checkout.GetProperty("values").EnumerateArray().ToList();
        Assert.Equal(3, values.Count);
        // Ordered by time; [ns, line, metadata].
        Assert.Equal("1700000000000000001", values[0][0].GetString());
        Assert.Equal("order placed", values[0][1].GetString());
        var metadata = values[0][2].EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
        Assert.Equal("0af7651916cd43dd8448eb211c80319c", metadata["trace_id"]);
        Assert.Equal("b7ad6b7169203331", metadata["span_id"]);
        Assert.Equal("INFO", metadata["severity_text"]);
        Assert.Equal("9", metadata["severity_number"]);
        Assert.Equal("c-42", metadata["customer_id"]);

        // A map body becomes JSON; severity from the number when there is no text; observed time when no time.
        Assert.Equal("{\"event\":\"refund\",\"amount\":12.5,\"items\":[1,2]}", values[1][1].GetString());
        Assert.Equal("ERROR", values[1][2].GetProperty("severity_text").GetString());
        Assert.Equal("1700000000000000005", values[2][0].GetString());
        Assert.False(values[2][2].TryGetProperty("trace_id", out _));

        var other = streams.Single(s => s.GetProperty("stream").GetProperty("service_name").GetString() == "billing");
        Assert.Single(other.GetProperty("values").EnumerateArray());
    }

    [Fact]
    public async Task Without_configured_labels_streams_are_labelled_by_service_name_and_metadata_can_be_off()
    {
        await using var receiver = await CapturingHttpReceiver.StartAsync();
        var exporter = new LokiExporter(TestEgress.LoopbackServices, options: new LokiOptions { StructuredMetadata = false });
        Assert.Equal(ExportStatus.Success, (await exporter.ExportAsync(Export(Logs(), new Uri(receiver.Uri, "/custom/push"), [], DestinationEncoding.Json))).Status);

        var request = Assert.Single(receiver.Requests);
        Assert.Equal("/custom/push", request.Path);
        using var json = JsonDocument.Parse(request.Body);
        foreach (var stream in json.RootElement.GetProperty("streams").EnumerateArray())
        {
            Assert.Equal(["service_name"], stream.GetProperty("stream").EnumerateObject().Select(p => p.Name).ToArray());
            foreach (var value in stream.GetProperty("values").EnumerateArray())
            {
                Assert.Equal(2, value.GetArrayLength());
            }
        }
    }

    [Fact]
    public async Task By_default_logs_are_pushed_as_snappy_compressed_protobuf()
    {
        await using var receiver = await CapturingHttpReceiver.StartAsync();
        var exporter = new LokiExporter(TestEgress.LoopbackServices);
        var outcome = await exporter.ExportAsync(Export(Logs(), new Uri(receiver.Uri, "/"), ["service.name", "deployment.environment"]));
        Assert.Equal(ExportStatus.Success, outcome.Status);

        var request = Assert.Single(receiver.Requests);
        Assert.Equal("/loki/api/v1/push", request.Path);
        Assert.Equal("acme", request.Headers["X-Scope-OrgID"]);
        Assert.Equal("application/x-protobuf", request.Headers["Content-Type"]);
        Assert.False(request.Headers.ContainsKey("Content-Encoding")); // Loki unsnappies protobuf bodies without being told

        // Snappy block format (Snappy.DecompressToArray throws on the framed stream format).
        byte[] raw = Snappy.DecompressToArray(request.Body);
        Assert.Equal(0x0A, raw[0]); // PushRequest.streams is field 1, length-delimited
        var push = PushRequest.Parser.ParseFrom(raw);
        Assert.Equal(2, push.Streams.Count);
        var checkout = push.Streams.Single(s => s.Labels.Contains("checkout", StringComparison.Ordinal));
        Assert.Equal("{deployment_environment=\"prod\", service_name=\"checkout\"}", checkout.Labels);
        Assert.Equal(3, checkout.Entries.Count);

        // Ordered by time; the same lines and metadata as the JSON form.
        var first = checkout.Entries[0];
        Assert.Equal(new Timestamp { Seconds = 1_700_000_000, Nanos = 1 }, first.Timestamp);
        Assert.Equal("order placed", first.Line);
        var metadata = first.StructuredMetadata.ToDictionary(p => p.Name, p => p.Value);
        Assert.Equal("0af7651916cd43dd8448eb211c80319c", metadata["trace_id"]);
        Assert.Equal("b7ad6b7169203331", metadata["span_id"]);
        Assert.Equal("INFO", metadata["severity_text"]);
        Assert.Equal("9", metadata["severity_number"]);
        Assert.Equal("c-42", metadata["customer_id"]);
        Assert.Equal("{\"event\":\"refund\",\"amount\":12.5,\"items\":[1,2]}", checkout.Entries[1].Line);
        Assert.Equal(new Timestamp { Seconds = 1_700_000_000, Nanos = 5 }, checkout.Entries[2].Timestamp);
        Assert.DoesNotContain(checkout.Entries[2].StructuredMetadata, p => p.Name == "trace_id");

        var billing = Assert.Single(push.Streams, s => s.Labels.Contains("billing", StringComparison.Ordinal));
        Assert.Equal("invoice", Assert.Single(billing.Entries).Line);
    }

    [Fact]
    public async Task Protobuf_without_structured_metadata_has_none()
    {
        await using var receiver = await CapturingHttpReceiver.StartAsync();
        var exporter = new LokiExporter(TestEgress.LoopbackServices, options: new LokiOptions { StructuredMetadata = false });
        Assert.Equal(ExportStatus.Success, (await exporter.ExportAsync(Export(Logs(), receiver.Uri, []))).Status);

        var push = PushRequest.Parser.ParseFrom(Snappy.DecompressToArray(Assert.Single(receiver.Requests).Body));
        Assert.Equal(["{service_name=\"billing\"}", "{service_name=\"checkout\"}"], push.Streams.Select(s => s.Labels).Order(StringComparer.Ordinal).ToArray());
        Assert.All(push.Streams.SelectMany(s => s.Entries), e => Assert.Empty(e.StructuredMetadata));
    }

    [Theory]
    [InlineData("plain", "{a=\"plain\"}")]
    [InlineData("say \"hi\"\\now", "{a=\"say \\\"hi\\\"\\\\now\"}")]
    [InlineData("two\nlines\t\u0001", "{a=\"two\\nlines\\t\\u0001\"}")]
    public void Label_values_are_quoted_as_in_LogQL(string value, string expected) =>
        Assert.Equal(expected, LokiPushRequest.LabelsText(new SortedDictionary<string, string>(StringComparer.Ordinal) { ["a"] = value }));

    [Fact]
    public async Task Failures_are_transient_permanent_or_partly_refused()
    {
        await using var receiver = await CapturingHttpReceiver.StartAsync();
        var exporter = new LokiExporter(TestEgress.LoopbackServices);
        var export = Export(Logs(), receiver.Uri, []);

        receiver.Answer = _ => (429, "rate limited", new Dictionary<string, string> { ["Retry-After"] = "3" });
        var throttled = await exporter.ExportAsync(export);
        Assert.Equal(ExportStatus.Transient, throttled.Status);
        Assert.Equal(TimeSpan.FromSeconds(3), throttled.RetryAfter);

        receiver.Answer = _ => (500, "boom", null);
        Assert.Equal(ExportStatus.Transient, (await exporter.ExportAsync(export)).Status);

        receiver.Answer = _ => (401, "no org id", null);
        Assert.Equal(ExportStatus.Permanent, (await exporter.ExportAsync(export)).Status);

        receiver.Answer = _ => (400, "entry for stream '{service_name=\"checkout\"}' has timestamp too old: 2023-11-14T22:13:20Z\ntotal ignored: 2 out of 4", null);
        var partly = await exporter.ExportAsync(export);
        Assert.Equal(ExportStatus.Success, partly.Status);
        Assert.Equal(2, partly.RejectedItems);

        receiver.Answer = _ => (400, "error at least one label pair is required per stream", null);
        Assert.Equal(ExportStatus.Permanent, (await exporter.ExportAsync(export)).Status);
    }

    [Theory]
    [InlineData(204, "", "Success")]
    [InlineData(400, "entry too far behind", "PartlyRefused")]
    [InlineData(400, "timestamp too old", "PartlyRefused")]
    [InlineData(400, "bad json", "Permanent")]
    [InlineData(413, "", "Permanent")]
    [InlineData(429, "", "Transient")]
    [InlineData(503, "", "Transient")]
    public void Answers_are_classified(int status, string body, string expected) =>
        Assert.Equal(expected, LokiExporter.Classify(status, body).ToString());

    [Fact]
    public async Task Other_signals_are_refused_for_good()
    {
        var export = Export(Logs(), new Uri("http://127.0.0.1:1/"), []) with { Message = new OpenTelemetry.Proto.Collector.Trace.V1.ExportTraceServiceRequest(), Signal = Signal.Traces };
        Assert.Equal(ExportStatus.Permanent, (await new LokiExporter(TestEgress.LoopbackServices).ExportAsync(export)).Status);
    }

    private static ExportRequest Export(ExportLogsServiceRequest logs, Uri endpoint, IReadOnlyList<string> lokiLabels, DestinationEncoding? encoding = null) => new(
        new TenantConfig { Id = "acme" },
        new DestinationConfig
        {
            Name = "loki",
            Kind = LokiDestination.KindName,
            Signals = [Signal.Logs],
            Endpoint = endpoint.ToString(),
            Headers = new Dictionary<string, string> { ["X-Scope-OrgID"] = "acme" },
            Settings = new LokiSettings { Labels = lokiLabels, Encoding = encoding },
        },
        Signal.Logs,
        logs,
        logs.ToByteArray());

    private static ExportLogsServiceRequest Logs()
    {
        var request = new ExportLogsServiceRequest();
        request.ResourceLogs.Add(Resource("checkout",
            new LogRecord { TimeUnixNano = 1_700_000_000_000_000_003, SeverityNumber = SeverityNumber.Error, Body = MapBody() },
            new LogRecord
            {
                TimeUnixNano = 1_700_000_000_000_000_001,
                SeverityText = "INFO",
                SeverityNumber = SeverityNumber.Info,
                Body = new AnyValue { StringValue = "order placed" },
                TraceId = ByteString.CopyFrom(TraceId),
                SpanId = ByteString.CopyFrom(SpanId),
                Attributes = { new KeyValue { Key = "customer.id", Value = new AnyValue { StringValue = "c-42" } } },
            },
            new LogRecord { ObservedTimeUnixNano = 1_700_000_000_000_000_005, Body = new AnyValue { StringValue = "no time" } }));
        request.ResourceLogs.Add(Resource("billing", new LogRecord { TimeUnixNano = 1_700_000_000_000_000_002, Body = new AnyValue { StringValue = "invoice" } }));
        return request;
    }

    private static ResourceLogs Resource(string service, params LogRecord[] records)
    {
        var resource = new Resource();
        resource.Attributes.Add(new KeyValue { Key = "service.name", Value = new AnyValue { StringValue = service } });
        resource.Attributes.Add(new KeyValue { Key = "deployment.environment", Value = new AnyValue { StringValue = "prod" } });
        var scope = new ScopeLogs { Scope = new InstrumentationScope { Name = "app" } };
        scope.LogRecords.Add(records);
        var rl = new ResourceLogs { Resource = resource };
        rl.ScopeLogs.Add(scope);
        return rl;
    }

    private static AnyValue MapBody()
    {
        var map = new KeyValueList();
        map.Values.Add(new KeyValue { Key = "event", Value = new AnyValue { StringValue = "refund" } });
        map.Values.Add(new KeyValue { Key = "amount", Value = new AnyValue { DoubleValue = 12.5 } });
        var items = new ArrayValue();
        items.Values.Add(new AnyValue { IntValue = 1 });
        items.Values.Add(new AnyValue { IntValue = 2 });
        map.Values.Add(new KeyValue { Key = "items", Value = new AnyValue { ArrayValue = items } });
        return new AnyValue { KvlistValue = map };
    }
}
