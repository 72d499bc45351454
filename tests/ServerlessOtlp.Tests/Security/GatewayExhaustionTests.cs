using Microsoft.Extensions.DependencyInjection;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using Google.Rpc;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Logs.V1;
using OpenTelemetry.Proto.Resource.V1;
using OpenTelemetry.Proto.Trace.V1;
using ServerlessOtlp.Gateway;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Wire;
using ServerlessOtlp.Tests.Gateway;
using Xunit.Abstractions;
using static ServerlessOtlp.Tests.Gateway.OtlpRequests;
using GrpcStatusCode = Grpc.Core.StatusCode;

namespace ServerlessOtlp.Tests.Security;

/// <summary>
/// Requests built to exhaust a gateway replica, each sent through the real gateway (Kestrel, gRPC and
/// HTTP) and shown answered by the specification's rules and contained: no 500, no retry invitation
/// for a permanent condition, still serving afterwards.
/// </summary>
public sealed class GatewayExhaustionTests(ITestOutputHelper output)
{
    private const int EventBudget = (950 * 1024) - 1024; // GatewayOptions.MaxEventBytes less the per-event overhead IngestService keeps

    /// <summary>A resource whose attributes weigh about <paramref name="bytes"/>, and <paramref name="spans"/> tiny spans each in its own trace.</summary>
    private static ExportTraceServiceRequest HeavyResource(int bytes, int spans)
    {
        var resource = new Resource();
        resource.Attributes.Add(new KeyValue { Key = "blob", Value = new AnyValue { StringValue = new string('r', bytes) } });
        var scope = new ScopeSpans();
        var rnd = new Random(5);
        for (int i = 0; i < spans; i++)
        {
            var id = new byte[16];
            rnd.NextBytes(id);
            id[0] |= 1;
            scope.Spans.Add(new Span { TraceId = ByteString.CopyFrom(id), SpanId = ByteString.CopyFrom(id, 0, 8) });
        }

        return new ExportTraceServiceRequest { ResourceSpans = { new ResourceSpans { Resource = resource, ScopeSpans = { scope } } } };
    }

    private static byte[] Gzip(byte[] data)
    {
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            gzip.Write(data);
        }

        return output.ToArray();
    }

    [Fact]
    public void A_resource_copied_into_one_record_per_span_is_refused_without_asking_for_more_than_the_bound()
    {
        // Each record holds the ~900 KB resource and one 30-byte span: 2,000 spans would be 1.8 GB once split.
        var request = HeavyResource(EventBudget - 200, 2000).ToByteArray();
        int bound = OtlpSplitter.OutputBound(request.Length);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var ex = Assert.Throws<SplitTooLargeException>(() => OtlpSplitter.Split(Signal.Traces, request, 32, EventBudget));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        output.WriteLine($"request {request.Length} bytes, bound {bound}, allocated {allocated}: {ex.Message}");
        // The output buffer is rented from the pool within the bound; the rest is bookkeeping for 2,000 items.
        Assert.True(allocated <= bound + (4 * 1024 * 1024), $"allocated {allocated} bytes for a bound of {bound}");
    }

    [Fact]
    public async Task Split_amplification_is_413_over_HTTP_and_RESOURCE_EXHAUSTED_over_gRPC_without_RetryInfo()
    {
        await using var gateway = await TestGateway.StartAsync();
        var request = HeavyResource(EventBudget - 200, 2000).ToByteArray();
        var compressed = Gzip(request);
        output.WriteLine($"{request.Length} bytes, {compressed.Length} gzipped");

        using var http = gateway.HttpClient();
        var content = Protobuf(compressed);
        content.Headers.ContentEncoding.Add("gzip");
        using (var response = await http.SendAsync(Post("/v1/traces", content)))
        {
            await RawProtocolTests.AssertFailureAsync(response, HttpStatusCode.RequestEntityTooLarge, GrpcStatusCode.ResourceExhausted);
        }

        using var channel = gateway.GrpcChannel([new PrecompressedGzipProvider()]);
        var headers = Key();
        headers.Add("grpc-internal-encoding-request", "gzip");
        await RawProtocolTests.AssertGrpcFailureAsync(ExportAsync(channel, compressed, headers), GrpcStatusCode.ResourceExhausted, retryInfo: false);
        Assert.Empty(gateway.Events(Signal.Traces));
        Assert.Equal(0, gateway.App.Services.GetRequiredService<ServerlessOtlp.Gateway.Ingest.IngestService>().Budget.Used);
        await AssertStillServingAsync(gateway);
    }

    [Fact]
    public async Task A_resource_larger_than_an_event_rejects_its_items_and_with_nothing_left_the_request_is_413()
    {
        await using var gateway = await TestGateway.StartAsync();
        var request = HeavyResource(EventBudget + 100, 500).ToByteArray();
        using var http = gateway.HttpClient();
        using var response = await http.SendAsync(Post("/v1/traces", Protobuf(request)));
        await RawProtocolTests.AssertFailureAsync(response, HttpStatusCode.RequestEntityTooLarge, GrpcStatusCode.ResourceExhausted);
        var status = await RawProtocolTests.ReadStatusAsync(response);
        Assert.Contains("larger than an event", status.Message, StringComparison.Ordinal);
        await AssertStillServingAsync(gateway);
    }

    [Fact]
    public async Task A_log_record_larger_than_an_event_is_rejected_in_partial_success_and_the_rest_is_durable()
    {
        await using var gateway = await TestGateway.StartAsync();
        var scope = new ScopeLogs();
        scope.LogRecords.Add(new LogRecord { Body = new AnyValue { StringValue = "small one" } });
        scope.LogRecords.Add(new LogRecord { Body = new AnyValue { StringValue = new string('x', 1_200_000) } });
        scope.LogRecords.Add(new LogRecord { Body = new AnyValue { StringValue = "small two" } });
        var request = new ExportLogsServiceRequest { ResourceLogs = { new ResourceLogs { Resource = new Resource(), ScopeLogs = { scope } } } };

        using var http = gateway.HttpClient();
        using var response = await http.SendAsync(Post("/v1/logs", Protobuf(request.ToByteArray())));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answer = ExportLogsServiceResponse.Parser.ParseFrom(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(1, answer.PartialSuccess.RejectedLogRecords);
        Assert.Contains("larger than an event", answer.PartialSuccess.ErrorMessage, StringComparison.Ordinal);
        var bodies = gateway.Events(Signal.Logs)
            .SelectMany(e => ExportLogsServiceRequest.Parser.ParseFrom(e.Body).ResourceLogs.SelectMany(r => r.ScopeLogs).SelectMany(s => s.LogRecords))
            .Select(r => r.Body.StringValue).Order().ToList();
        Assert.Equal(["small one", "small two"], bodies);
    }

    [Fact]
    public async Task More_items_than_a_request_may_hold_are_refused_413_without_their_bookkeeping()
    {
        await using var gateway = await TestGateway.StartAsync(configure: o => o.MaxDecompressedBytes = 4 * 1024 * 1024);
        // One empty log record is 2 bytes on the wire: a million and one of them is a 2 MB request.
        var records = new byte[(OtlpSplitter.MaxItemsPerRequest + 1) * 2];
        for (int i = 0; i < records.Length; i += 2)
        {
            records[i] = (2 << 3) | 2; // ScopeLogs.log_records, length 0
        }

        var scope = WithField(2, [], records); // ScopeLogs { log_records… }
        var resource = WithField(2, [], scope); // ResourceLogs { scope_logs }
        var request = WithField(1, [], resource); // ExportLogsServiceRequest { resource_logs }
        var compressed = Gzip(request);
        using var http = gateway.HttpClient();
        var content = Protobuf(compressed);
        content.Headers.ContentEncoding.Add("gzip");
        using var response = await http.SendAsync(Post("/v1/logs", content));
        await RawProtocolTests.AssertFailureAsync(response, HttpStatusCode.RequestEntityTooLarge, GrpcStatusCode.ResourceExhausted);
        await AssertStillServingAsync(gateway);

        static byte[] WithField(int field, byte[] prefix, byte[] payload)
        {
            var stream = new MemoryStream();
            stream.Write(prefix);
            var coded = new CodedOutputStream(stream);
            coded.WriteTag(field, WireFormat.WireType.LengthDelimited);
            coded.WriteBytes(ByteString.CopyFrom(payload));
            coded.Flush();
            return stream.ToArray();
        }
    }

    [Fact]
    public async Task A_resource_with_100k_attributes_is_refused_400_before_it_is_sorted_or_split()
    {
        await using var gateway = await TestGateway.StartAsync();
        var request = Traces("wide", 1);
        var attributes = request.ResourceSpans[0].Resource.Attributes;
        for (int i = 0; i < 100_000; i++)
        {
            attributes.Add(new KeyValue { Key = "k" + (100_000 - i), Value = new AnyValue { IntValue = i } });
        }

        using var http = gateway.HttpClient();
        using (var response = await http.SendAsync(Post("/v1/traces", Protobuf(request.ToByteArray()))))
        {
            await RawProtocolTests.AssertFailureAsync(response, HttpStatusCode.BadRequest, GrpcStatusCode.InvalidArgument);
            Assert.Contains($"more than {OtlpWireValidator.MaxAttributes} attributes", (await RawProtocolTests.ReadStatusAsync(response)).Message, StringComparison.Ordinal);
        }

        using var channel = gateway.GrpcChannel();
        await RawProtocolTests.AssertGrpcFailureAsync(ExportAsync(channel, request.ToByteArray()), GrpcStatusCode.InvalidArgument, retryInfo: false);
        await AssertStillServingAsync(gateway);
    }

    [Fact]
    public void Resource_identity_of_100k_attributes_does_not_depend_on_their_order()
    {
        // n log n: this finishes in milliseconds (insertion sort took tens of seconds); the hang timeout is the guard.
        var rnd = new Random(3);
        var keys = Enumerable.Range(0, 100_000).Select(i => "key-" + i).ToArray();
        var a = new Resource();
        a.Attributes.Add(keys.Select(k => new KeyValue { Key = k, Value = new AnyValue { StringValue = k } }));
        var b = new Resource();
        b.Attributes.Add(keys.OrderBy(_ => rnd.Next()).Select(k => new KeyValue { Key = k, Value = new AnyValue { StringValue = k } }));
        Assert.Equal(ResourceIdentity.Hash(a.ToByteArray()), ResourceIdentity.Hash(b.ToByteArray()));
    }

    [Fact]
    public void Duplicate_resource_fields_partition_as_the_decoder_merges_them()
    {
        // Two `resource` fields are one resource to a decoder: {service.name, host} split over two fields
        // must land where the merged resource lands, whichever order the fields come in.
        var first = new Resource { Attributes = { new KeyValue { Key = "service.name", Value = new AnyValue { StringValue = "a" } } } }.ToByteArray();
        var second = new Resource { Attributes = { new KeyValue { Key = "host", Value = new AnyValue { StringValue = "h" } } } }.ToByteArray();
        var merged = new Resource();
        merged.MergeFrom(first);
        merged.MergeFrom(second);

        int expected = PartitionOf(Metrics(merged.ToByteArray()));
        Assert.Equal(expected, PartitionOf(Metrics(first, second)));
        Assert.Equal(expected, PartitionOf(Metrics(second, first)));
        // And not where the last field alone would send it (what the hash used to read).
        var lastOnly = Enumerable.Range(1, 64).Select(n => (n, alone: PartitionFunction.ForResourceHash(ResourceIdentity.Hash(second), n), merged: PartitionFunction.ForResourceHash(ResourceIdentity.Hash(merged.ToByteArray()), n)));
        Assert.Contains(lastOnly, p => p.alone != p.merged);

        static byte[] Metrics(params byte[][] resources)
        {
            var rm = new MemoryStream();
            var coded = new CodedOutputStream(rm);
            foreach (var r in resources)
            {
                coded.WriteTag(1, WireFormat.WireType.LengthDelimited);
                coded.WriteBytes(ByteString.CopyFrom(r));
            }

            var metric = new OpenTelemetry.Proto.Metrics.V1.Metric { Name = "m", Gauge = new() { DataPoints = { new OpenTelemetry.Proto.Metrics.V1.NumberDataPoint { AsInt = 1 } } } };
            coded.WriteTag(2, WireFormat.WireType.LengthDelimited);
            coded.WriteBytes(new OpenTelemetry.Proto.Metrics.V1.ScopeMetrics { Metrics = { metric } }.ToByteString());
            coded.Flush();
            var request = new MemoryStream();
            var outer = new CodedOutputStream(request);
            outer.WriteTag(1, WireFormat.WireType.LengthDelimited);
            outer.WriteBytes(ByteString.CopyFrom(rm.ToArray()));
            outer.Flush();
            return request.ToArray();
        }

        static int PartitionOf(byte[] request)
        {
            using var split = OtlpSplitter.Split(Signal.Metrics, request, 64);
            return Assert.Single(split.Records.ToArray()).Partition;
        }
    }

    [Fact]
    public void Default_size_limits_are_no_looser_than_the_Collectors()
    {
        var options = new GatewayOptions();
        Assert.Equal(20 * 1024 * 1024, options.MaxRequestBytes); // confighttp max_request_body_size (CVE-2024-36129)
        Assert.Equal(20 * 1024 * 1024, options.MaxDecompressedBytes);
        Assert.Equal(4 * 1024 * 1024, options.GrpcWireLimit); // grpc-go MaxRecvMsgSize, the OTLP gRPC receiver's default
        Assert.Equal(4 * 1024 * 1024, options.GrpcDecompressedLimit);
        Assert.Equal(100, options.MaxStreamsPerConnection);
    }

    [Fact]
    public async Task Connections_and_streams_per_connection_are_capped_in_Kestrel()
    {
        await using var gateway = await TestGateway.StartAsync(configure: o =>
        {
            o.MaxConnections = 123;
            o.MaxStreamsPerConnection = 7;
        });
        var kestrel = gateway.App.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>>().Value;
        Assert.Equal(123, kestrel.Limits.MaxConcurrentConnections);
        Assert.Equal(7, kestrel.Limits.Http2.MaxStreamsPerConnection);
        Assert.Equal(0, kestrel.Limits.MaxConcurrentUpgradedConnections);
    }
}
