using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Rpc;
using Grpc.Core;
using OpenTelemetry.Proto.Collector.Trace.V1;
using ServerlessOtlp.Tenants;
using Xunit.Abstractions;
using static ServerlessOtlp.Tests.Gateway.OtlpRequests;
using GrpcStatusCode = Grpc.Core.StatusCode;

namespace ServerlessOtlp.Tests.Gateway;

/// <summary>
/// The gateway's answers to bad and good input over raw HTTP/1.1 and raw gRPC, each checked
/// against the OTLP specification (CONTRACTS.md, "answers"), and each followed by a good request
/// that must still succeed.
/// </summary>
public sealed class RawProtocolTests(GatewayFixture fixture, ITestOutputHelper output) : IClassFixture<GatewayFixture>
{
    private const string ProtobufType = "application/x-protobuf";
    private const string JsonType = "application/json";

    private TestGateway Gateway => fixture.Gateway;

    private static readonly byte[] Garbage = [.. Encoding.ASCII.GetBytes("GARBAGE, not protobuf"), 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

    public static TheoryData<string, byte[]> BadProtobuf => new()
    {
        { "garbage", Garbage },
        { "all 0xFF", Enumerable.Repeat((byte)0xFF, 64).ToArray() },
        { "truncated", Truncated() },
        { "bad length prefix", [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x01] },
    };

    private static byte[] Truncated()
    {
        var bytes = Traces("truncated", 20).ToByteArray();
        return bytes[..(bytes.Length / 2)];
    }

    private static readonly JsonParser StatusJson = new(JsonParser.Settings.Default.WithTypeRegistry(TypeRegistry.FromMessages(RetryInfo.Descriptor)));

    internal static async Task<Google.Rpc.Status> ReadStatusAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsByteArrayAsync();
        return response.Content.Headers.ContentType?.MediaType == JsonType
            ? StatusJson.Parse<Google.Rpc.Status>(Encoding.UTF8.GetString(body))
            : Google.Rpc.Status.Parser.ParseFrom(body);
    }

    internal static async Task AssertFailureAsync(HttpResponseMessage response, HttpStatusCode expected, GrpcStatusCode code, string contentType = ProtobufType, bool retryable = false)
    {
        Assert.Equal(expected, response.StatusCode);
        Assert.Equal(contentType, response.Content.Headers.ContentType?.MediaType);
        var status = await ReadStatusAsync(response);
        Assert.Equal((int)code, status.Code);
        Assert.False(string.IsNullOrEmpty(status.Message));
        if (retryable)
        {
            Assert.True(response.Headers.RetryAfter?.Delta is { } delta && delta >= TimeSpan.FromSeconds(1), "Retry-After missing");
            Assert.NotNull(status.GetDetail<RetryInfo>());
        }
        else
        {
            Assert.Null(response.Headers.RetryAfter);
            Assert.Null(status.GetDetail<RetryInfo>());
        }
    }

    internal static async Task<RpcException> AssertGrpcFailureAsync(Task call, GrpcStatusCode code, bool retryInfo)
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() => call);
        Assert.Equal(code, ex.StatusCode);
        var details = ex.Trailers.GetValueBytes("grpc-status-details-bin");
        if (retryInfo)
        {
            Assert.NotNull(details);
            var status = Google.Rpc.Status.Parser.ParseFrom(details);
            Assert.Equal((int)code, status.Code);
            var retry = status.GetDetail<RetryInfo>();
            Assert.NotNull(retry);
            Assert.True(retry.RetryDelay.ToTimeSpan() > TimeSpan.Zero);
            Assert.NotNull(ex.GetRpcStatus()?.GetDetail<RetryInfo>());
        }
        else
        {
            Assert.Null(ex.GetRpcStatus()?.GetDetail<RetryInfo>());
        }

        return ex;
    }

    [Theory]
    [MemberData(nameof(BadProtobuf))]
    public async Task Bad_protobuf_is_400_and_INVALID_ARGUMENT(string name, byte[] payload)
    {
        output.WriteLine(name);
        using var http = Gateway.HttpClient();
        using (var response = await http.SendAsync(Post("/v1/traces", Protobuf(payload))))
        {
            await AssertFailureAsync(response, HttpStatusCode.BadRequest, GrpcStatusCode.InvalidArgument);
        }

        using var channel = Gateway.GrpcChannel();
        await AssertGrpcFailureAsync(ExportAsync(channel, payload), GrpcStatusCode.InvalidArgument, retryInfo: false);
        await AssertStillServingAsync(Gateway);
    }

    [Theory]
    [InlineData("{\"resourceSpans\": [")]
    [InlineData("not json at all")]
    [InlineData("{\"resourceSpans\": [{\"scopeSpans\": [{\"spans\": [{\"traceId\": \"not hex\"}]}]}]}")]
    [InlineData("{\"resourceSpans\": 42}")]
    public async Task Invalid_json_is_400_with_a_json_Status_body(string body)
    {
        using var http = Gateway.HttpClient();
        using var response = await http.SendAsync(Post("/v1/traces", new StringContent(body, Encoding.UTF8, JsonType)));
        await AssertFailureAsync(response, HttpStatusCode.BadRequest, GrpcStatusCode.InvalidArgument, JsonType);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(3, json.RootElement.GetProperty("code").GetInt32());
        Assert.True(json.RootElement.TryGetProperty("message", out _));
        await AssertStillServingAsync(Gateway);
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/grpc")]
    [InlineData("application/octet-stream")]
    [InlineData(null)]
    public async Task Wrong_content_type_is_415(string? contentType)
    {
        using var http = Gateway.HttpClient();
        var content = new ByteArrayContent(Traces("ct", 1).ToByteArray());
        if (contentType != null)
        {
            content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }

        using var response = await http.SendAsync(Post("/v1/traces", content));
        await AssertFailureAsync(response, HttpStatusCode.UnsupportedMediaType, GrpcStatusCode.InvalidArgument);
        await AssertStillServingAsync(Gateway);
    }

    [Fact]
    public async Task Unsupported_content_encoding_is_415()
    {
        using var http = Gateway.HttpClient();
        var content = Protobuf(Traces("enc", 1).ToByteArray());
        content.Headers.ContentEncoding.Add("br");
        using var response = await http.SendAsync(Post("/v1/traces", content));
        await AssertFailureAsync(response, HttpStatusCode.UnsupportedMediaType, GrpcStatusCode.InvalidArgument);
    }

    [Fact]
    public async Task Oversized_body_is_413_and_RESOURCE_EXHAUSTED_without_RetryInfo()
    {
        await using var gateway = await TestGateway.StartAsync(configure: o => o.MaxRequestBytes = 1024 * 1024);
        var big = Traces("big", 1).ToByteArray().Concat(new byte[2 * 1024 * 1024]).ToArray();
        using var http = gateway.HttpClient();
        using (var response = await http.SendAsync(Post("/v1/traces", Protobuf(big))))
        {
            await AssertFailureAsync(response, HttpStatusCode.RequestEntityTooLarge, GrpcStatusCode.ResourceExhausted);
        }

        // Without a Content-Length (chunked), the limit is found while reading.
        var chunked = new StreamContent(new MemoryStream(big));
        chunked.Headers.ContentType = new MediaTypeHeaderValue(ProtobufType);
        var request = Post("/v1/traces", chunked);
        request.Headers.TransferEncodingChunked = true;
        using (var response = await http.SendAsync(request))
        {
            await AssertFailureAsync(response, HttpStatusCode.RequestEntityTooLarge, GrpcStatusCode.ResourceExhausted);
        }

        using var channel = gateway.GrpcChannel();
        await AssertGrpcFailureAsync(ExportAsync(channel, big), GrpcStatusCode.ResourceExhausted, retryInfo: false);
        await AssertStillServingAsync(gateway);
    }

    /// <summary>A valid request padded with an unknown top-level field to exactly <paramref name="size"/> bytes.</summary>
    private static byte[] Padded(string marker, int size)
    {
        var request = Traces(marker, 2).ToByteArray();
        for (int payload = size - request.Length - 5; payload >= 0; payload--)
        {
            var output = new MemoryStream();
            output.Write(request);
            var coded = new CodedOutputStream(output, leaveOpen: true);
            coded.WriteTag(99, WireFormat.WireType.LengthDelimited);
            coded.WriteBytes(ByteString.CopyFrom(new byte[payload]));
            coded.Flush();
            if (output.Length == size)
            {
                return output.ToArray();
            }
        }

        throw new InvalidOperationException($"cannot pad to {size}");
    }

    [Theory]
    [InlineData(256 * 1024, 256 * 1024)]
    [InlineData(256 * 1024, 512 * 1024)]
    public async Task Size_limits_are_inclusive_on_HTTP_and_gRPC_compressed_or_not(int maxRequest, int maxDecompressed)
    {
        await using var gateway = await TestGateway.StartAsync(configure: o =>
        {
            o.MaxRequestBytes = maxRequest;
            o.MaxDecompressedBytes = maxDecompressed;
        });
        using var http = gateway.HttpClient();
        using var channel = gateway.GrpcChannel();
        using var gzipChannel = gateway.GrpcChannel([new PrecompressedGzipProvider()]);
        var gzipHeaders = Key();
        gzipHeaders.Add("grpc-internal-encoding-request", "gzip");

        foreach (var (size, ok) in new[] { (maxRequest, true), (maxRequest + 1, false) })
        {
            var body = Padded("limit-" + size, size);
            using (var response = await http.SendAsync(Post("/v1/traces", Protobuf(body))))
            {
                Assert.True(ok ? response.StatusCode == HttpStatusCode.OK : response.StatusCode == HttpStatusCode.RequestEntityTooLarge, $"HTTP {size} bytes: {response.StatusCode}");
            }

            if (ok)
            {
                await ExportAsync(channel, body);
            }
            else
            {
                await AssertGrpcFailureAsync(ExportAsync(channel, body), GrpcStatusCode.ResourceExhausted, retryInfo: false);
            }
        }

        foreach (var (size, ok) in new[] { (maxDecompressed, true), (maxDecompressed + 1, false) })
        {
            var compressed = Gzip(Padded("gz-limit-" + size, size));
            Assert.True(compressed.Length < maxRequest);
            var content = Protobuf(compressed);
            content.Headers.ContentEncoding.Add("gzip");
            using (var response = await http.SendAsync(Post("/v1/traces", content)))
            {
                Assert.True(ok ? response.StatusCode == HttpStatusCode.OK : response.StatusCode == HttpStatusCode.RequestEntityTooLarge, $"HTTP gzip {size} bytes: {response.StatusCode}");
            }

            if (ok)
            {
                await ExportAsync(gzipChannel, compressed, gzipHeaders);
            }
            else
            {
                await AssertGrpcFailureAsync(ExportAsync(gzipChannel, compressed, gzipHeaders), GrpcStatusCode.ResourceExhausted, retryInfo: false);
            }
        }

        await AssertStillServingAsync(gateway);
    }

    [Fact]
    public async Task Gzip_bomb_is_413_over_HTTP()
    {
        var sw = Stopwatch.StartNew();
        var bomb = GzipBomb.Compressed;
        output.WriteLine($"bomb: {bomb.Length} bytes compressed, made in {sw.ElapsedMilliseconds} ms");
        Assert.InRange(bomb.Length, 512 * 1024, 4 * 1024 * 1024);

        using var http = Gateway.HttpClient();
        var content = Protobuf(bomb);
        content.Headers.ContentEncoding.Add("gzip");
        using (var response = await http.SendAsync(Post("/v1/traces", content)))
        {
            await AssertFailureAsync(response, HttpStatusCode.RequestEntityTooLarge, GrpcStatusCode.ResourceExhausted);
        }

        await AssertStillServingAsync(Gateway);
    }

    [Fact]
    public async Task Gzip_bomb_is_RESOURCE_EXHAUSTED_over_gRPC()
    {
        var bomb = GzipBomb.Compressed;
        using var channel = Gateway.GrpcChannel([new PrecompressedGzipProvider()]);
        var headers = Key();
        headers.Add("grpc-internal-encoding-request", "gzip");
        await AssertGrpcFailureAsync(ExportAsync(channel, bomb, headers), GrpcStatusCode.ResourceExhausted, retryInfo: false);
        await AssertStillServingAsync(Gateway);
    }

    [Fact]
    public async Task Gzip_requests_within_the_limits_are_accepted()
    {
        string marker = "gz-" + Guid.NewGuid().ToString("N");
        var compressed = Gzip(Traces(marker, 4).ToByteArray());
        using var http = Gateway.HttpClient();
        var content = Protobuf(compressed);
        content.Headers.ContentEncoding.Add("gzip");
        using (var response = await http.SendAsync(Post("/v1/traces", content)))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        using var channel = Gateway.GrpcChannel([new PrecompressedGzipProvider()]);
        var headers = Key();
        headers.Add("grpc-internal-encoding-request", "gzip");
        await ExportAsync(channel, Gzip(Traces(marker + "-grpc", 4).ToByteArray()), headers);

        var ids = Gateway.Spans().Select(s => SpanId(s.Span)).Where(id => id.StartsWith(marker, StringComparison.Ordinal)).ToList();
        Assert.Equal(8, ids.Count);
    }

    private static byte[] Gzip(byte[] data)
    {
        var output = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(output, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(data);
        }

        return output.ToArray();
    }

    [Theory]
    [InlineData(null)]
    [InlineData("unknown-key-0123456789abcdef")]
    [InlineData("")]
    public async Task Missing_or_unknown_key_is_401_and_UNAUTHENTICATED(string? key)
    {
        using var http = Gateway.HttpClient();
        var payload = Traces("auth", 1).ToByteArray();
        using (var response = await http.SendAsync(Post("/v1/traces", Protobuf(payload), key)))
        {
            await AssertFailureAsync(response, HttpStatusCode.Unauthorized, GrpcStatusCode.Unauthenticated);
        }

        using (var response = await http.SendAsync(Post("/v1/traces", new StringContent("{}", Encoding.UTF8, JsonType), key)))
        {
            await AssertFailureAsync(response, HttpStatusCode.Unauthorized, GrpcStatusCode.Unauthenticated, JsonType);
        }

        using var channel = Gateway.GrpcChannel();
        await AssertGrpcFailureAsync(ExportAsync(channel, payload, Key(key)), GrpcStatusCode.Unauthenticated, retryInfo: false);
        await AssertStillServingAsync(Gateway);
    }

    [Fact]
    public async Task Bearer_token_authenticates_and_X_Scope_OrgID_is_ignored()
    {
        string marker = "bearer-" + Guid.NewGuid().ToString("N");
        using var http = Gateway.HttpClient();
        var request = Post("/v1/traces", Protobuf(Traces(marker, 3).ToByteArray()), key: null);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", TestGateway.GlobexKey);
        request.Headers.Add("X-Scope-OrgID", "acme");
        using (var response = await http.SendAsync(request))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        using var channel = Gateway.GrpcChannel();
        var headers = new Metadata { { "authorization", "Bearer " + TestGateway.GlobexKey }, { "x-scope-orgid", "acme" } };
        await ExportAsync(channel, Traces(marker + "-grpc", 3).ToByteArray(), headers);

        var found = Gateway.Spans().Where(s => SpanId(s.Span).StartsWith(marker, StringComparison.Ordinal)).ToList();
        Assert.Equal(6, found.Count);
        Assert.All(found, s => Assert.Equal("globex", s.Tenant));
    }

    private static readonly byte[][] InvalidTraceIds = [[1, 2, 3, 4, 5, 6, 7, 8], new byte[16]];

    [Fact]
    public async Task Concurrent_clients_of_two_tenants_over_HTTP_and_gRPC_find_every_span_once_with_their_tenant()
    {
        const int clients = 16, requests = 10, spans = 20;
        string marker = "concurrent-" + Guid.NewGuid().ToString("N");
        using var http = Gateway.HttpClient();
        using var channel = Gateway.GrpcChannel();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            string key = c % 2 == 0 ? TestGateway.AcmeKey : TestGateway.GlobexKey;
            for (int r = 0; r < requests; r++)
            {
                var payload = Traces($"{marker}-{c}-{r}", spans).ToByteArray();
                if (c % 4 < 2)
                {
                    using var response = await http.SendAsync(Post("/v1/traces", Protobuf(payload), key));
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                }
                else
                {
                    await ExportAsync(channel, payload, Key(key));
                }
            }
        })));

        var found = Gateway.Spans().Where(s => SpanId(s.Span).StartsWith(marker + "-", StringComparison.Ordinal)).ToList();
        Assert.Equal(clients * requests * spans, found.Count);
        Assert.Equal(found.Count, found.Select(s => SpanId(s.Span)).Distinct().Count());
        foreach (var (partition, tenant, _, span) in found)
        {
            int client = int.Parse(SpanId(span)[(marker.Length + 1)..].Split('-')[0], System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(client % 2 == 0 ? "acme" : "globex", tenant);
            Assert.Equal(ServerlessOtlp.Otlp.Wire.PartitionFunction.ForTraceId(span.TraceId.Span, 8), partition);
        }
    }

    [Fact]
    public async Task Invalid_trace_ids_are_a_partial_success_over_protobuf_HTTP_and_gRPC()
    {
        string marker = "partial-" + Guid.NewGuid().ToString("N");
        using var http = Gateway.HttpClient();
        using (var response = await http.SendAsync(Post("/v1/traces", Protobuf(Traces(marker + "-http", 3, InvalidTraceIds).ToByteArray()))))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(ProtobufType, response.Content.Headers.ContentType?.MediaType);
            var answer = ExportTraceServiceResponse.Parser.ParseFrom(await response.Content.ReadAsByteArrayAsync());
            Assert.Equal(2, answer.PartialSuccess.RejectedSpans);
            Assert.False(string.IsNullOrEmpty(answer.PartialSuccess.ErrorMessage));
        }

        using var channel = Gateway.GrpcChannel();
        var grpcAnswer = ExportTraceServiceResponse.Parser.ParseFrom(await ExportAsync(channel, Traces(marker + "-grpc", 3, InvalidTraceIds).ToByteArray()));
        Assert.Equal(2, grpcAnswer.PartialSuccess.RejectedSpans);
        Assert.False(string.IsNullOrEmpty(grpcAnswer.PartialSuccess.ErrorMessage));

        // Only invalid spans: nothing is written, still a partial success.
        var onlyInvalid = ExportTraceServiceResponse.Parser.ParseFrom(await ExportAsync(channel, Traces(marker + "-none", 0, InvalidTraceIds).ToByteArray()));
        Assert.Equal(2, onlyInvalid.PartialSuccess.RejectedSpans);

        var ids = Gateway.Spans().Select(s => SpanId(s.Span)).Where(id => id.StartsWith(marker, StringComparison.Ordinal)).Order().ToList();
        Assert.Equal(new[] { "-grpc-0", "-grpc-1", "-grpc-2", "-http-0", "-http-1", "-http-2" }.Select(s => marker + s), ids);
    }

    [Fact]
    public async Task Invalid_trace_ids_are_a_partial_success_over_JSON_with_a_JSON_answer()
    {
        string marker = "partial-json-" + Guid.NewGuid().ToString("N");
        string json = $$$"""
            {"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"json"}}]},
              "scopeSpans":[{"scope":{"name":"s"},"spans":[
                {"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","name":"ok","attributes":[{"key":"id","value":{"stringValue":"{{{marker}}}-0"}}]},
                {"traceId":"5b8efff798038103d269b633813fc60d","spanId":"eee19b7ec3c1b175","name":"ok","attributes":[{"key":"id","value":{"stringValue":"{{{marker}}}-1"}}]},
                {"traceId":"0102030405060708","spanId":"EEE19B7EC3C1B176","name":"short"},
                {"traceId":"00000000000000000000000000000000","spanId":"EEE19B7EC3C1B177","name":"zero"}]}]}]}
            """;
        using var http = Gateway.HttpClient();
        using var response = await http.SendAsync(Post("/v1/traces", new StringContent(json, Encoding.UTF8, JsonType)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(JsonType, response.Content.Headers.ContentType?.MediaType);
        using var answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var partial = answer.RootElement.GetProperty("partialSuccess");
        var rejected = partial.GetProperty("rejectedSpans");
        Assert.Equal(2, rejected.ValueKind == JsonValueKind.String ? long.Parse(rejected.GetString()!) : rejected.GetInt64());
        Assert.False(string.IsNullOrEmpty(partial.GetProperty("errorMessage").GetString()));

        var found = Gateway.Spans().Where(s => SpanId(s.Span).StartsWith(marker, StringComparison.Ordinal)).ToList();
        Assert.Equal(2, found.Count);
        Assert.All(found, s => Assert.Equal("acme", s.Tenant));
    }

    [Fact]
    public async Task The_answer_is_in_the_request_encoding()
    {
        using var http = Gateway.HttpClient();
        string json = OtlpJsonOf(Traces("enc-json", 2));
        using (var response = await http.SendAsync(Post("/v1/traces", new StringContent(json, Encoding.UTF8, JsonType))))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(JsonType, response.Content.Headers.ContentType?.MediaType);
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal(JsonValueKind.Object, body.RootElement.ValueKind);
            Assert.False(body.RootElement.TryGetProperty("partialSuccess", out _));
        }

        using (var response = await http.SendAsync(Post("/v1/traces", Protobuf(Traces("enc-pb", 2).ToByteArray()))))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(ProtobufType, response.Content.Headers.ContentType?.MediaType);
            var answer = ExportTraceServiceResponse.Parser.ParseFrom(await response.Content.ReadAsByteArrayAsync());
            Assert.Null(answer.PartialSuccess);
        }

        // Errors too: a JSON request gets a JSON google.rpc.Status.
        using (var response = await http.SendAsync(Post("/v1/traces", new StringContent(json, Encoding.UTF8, JsonType), "unknown-key-0123456789abcdef")))
        {
            await AssertFailureAsync(response, HttpStatusCode.Unauthorized, GrpcStatusCode.Unauthenticated, JsonType);
        }
    }

    private static string OtlpJsonOf(IMessage message) => ServerlessOtlp.Otlp.Json.OtlpJson.Format(message);

    [Theory]
    [InlineData("/v1/unknown", ProtobufType)]
    [InlineData("/v2/traces", ProtobufType)]
    [InlineData("/nothing/here", JsonType)]
    [InlineData("/v1/traces/extra", JsonType)]
    public async Task Unknown_path_is_404_with_a_Status_body(string path, string contentType)
    {
        using var http = Gateway.HttpClient();
        using var response = await http.SendAsync(Post(path, Protobuf(Traces("404", 1).ToByteArray(), contentType)));
        await AssertFailureAsync(response, HttpStatusCode.NotFound, GrpcStatusCode.Unimplemented, contentType);
        await AssertStillServingAsync(Gateway);
    }

    [Theory]
    [InlineData("opentelemetry.proto.collector.trace.v1.TraceService", "Bogus")]
    [InlineData("opentelemetry.proto.collector.profiles.v1development.ProfilesService", "Export")]
    [InlineData("no.such.Service", "Export")]
    public async Task Unknown_gRPC_method_is_UNIMPLEMENTED(string service, string method)
    {
        var raw = Grpc.Core.Marshallers.Create(b => b, b => b);
        var unknown = new Method<byte[], byte[]>(MethodType.Unary, service, method, raw, raw);
        using var channel = Gateway.GrpcChannel();
        var call = channel.CreateCallInvoker().AsyncUnaryCall(unknown, null, new CallOptions(Key(), DateTime.UtcNow.AddSeconds(10)), []);
        await AssertGrpcFailureAsync(call.ResponseAsync, GrpcStatusCode.Unimplemented, retryInfo: false);
        await AssertStillServingAsync(Gateway);
    }

    [Fact]
    public async Task A_body_that_is_not_gzip_is_400()
    {
        using var http = Gateway.HttpClient();
        var content = Protobuf(Traces("not-gzip", 2).ToByteArray());
        content.Headers.ContentEncoding.Add("gzip");
        using var response = await http.SendAsync(Post("/v1/traces", content));
        await AssertFailureAsync(response, HttpStatusCode.BadRequest, GrpcStatusCode.InvalidArgument);
        await AssertStillServingAsync(Gateway);
    }

    [Fact]
    public async Task Metrics_and_logs_over_JSON_land_in_their_partitions()
    {
        string marker = "json-signals-" + Guid.NewGuid().ToString("N");
        var metrics = ServerlessOtlp.Tests.Otlp.OtlpTestData.Metrics(seed: 11, resources: 3, metrics: 2, points: 2);
        var logs = ServerlessOtlp.Tests.Otlp.OtlpTestData.Logs(seed: 12, resources: 2, records: 6);
        foreach (var r in metrics.ResourceMetrics)
        {
            r.Resource.Attributes.Add(new OpenTelemetry.Proto.Common.V1.KeyValue { Key = "marker", Value = new OpenTelemetry.Proto.Common.V1.AnyValue { StringValue = marker } });
        }

        foreach (var r in logs.ResourceLogs)
        {
            r.Resource.Attributes.Add(new OpenTelemetry.Proto.Common.V1.KeyValue { Key = "marker", Value = new OpenTelemetry.Proto.Common.V1.AnyValue { StringValue = marker } });
        }

        using var http = Gateway.HttpClient();
        foreach (var (path, message) in new (string, IMessage)[] { ("/v1/metrics", metrics), ("/v1/logs", logs) })
        {
            using var response = await http.SendAsync(Post(path, new StringContent(OtlpJsonOf(message), Encoding.UTF8, JsonType), TestGateway.GlobexKey));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("{}", await response.Content.ReadAsStringAsync());
        }

        static bool Marked(OpenTelemetry.Proto.Resource.V1.Resource r, string marker) => r.Attributes.Any(a => a.Key == "marker" && a.Value.StringValue == marker);
        int points = 0;
        foreach (var (partition, props, body) in Gateway.Events(ServerlessOtlp.Otlp.Signal.Metrics))
        {
            foreach (var rm in OpenTelemetry.Proto.Collector.Metrics.V1.ExportMetricsServiceRequest.Parser.ParseFrom(body).ResourceMetrics.Where(rm => Marked(rm.Resource, marker)))
            {
                Assert.Equal("globex", props.Tenant);
                Assert.Equal(ServerlessOtlp.Otlp.Wire.PartitionFunction.ForResourceHash(ServerlessOtlp.Otlp.Wire.ResourceIdentity.Hash(rm.Resource.ToByteArray()), 8), partition);
                points += rm.ScopeMetrics.SelectMany(s => s.Metrics).Sum(m => m.Gauge.DataPoints.Count);
            }
        }

        Assert.Equal(3 * 2 * 2, points);
        int records = 0;
        foreach (var (partition, props, body) in Gateway.Events(ServerlessOtlp.Otlp.Signal.Logs))
        {
            foreach (var rl in OpenTelemetry.Proto.Collector.Logs.V1.ExportLogsServiceRequest.Parser.ParseFrom(body).ResourceLogs.Where(rl => Marked(rl.Resource, marker)))
            {
                Assert.Equal("globex", props.Tenant);
                foreach (var record in rl.ScopeLogs.SelectMany(s => s.LogRecords))
                {
                    int expected = record.TraceId.Length == 16
                        ? ServerlessOtlp.Otlp.Wire.PartitionFunction.ForTraceId(record.TraceId.Span, 8)
                        : ServerlessOtlp.Otlp.Wire.PartitionFunction.ForResourceHash(ServerlessOtlp.Otlp.Wire.ResourceIdentity.Hash(rl.Resource.ToByteArray()), 8);
                    Assert.Equal(expected, partition);
                    records++;
                }
            }
        }

        Assert.Equal(2 * 6, records);
    }

    [Theory]
    [InlineData("GET")]
    [InlineData("PUT")]
    [InlineData("DELETE")]
    public async Task Wrong_method_is_405(string method)
    {
        using var http = Gateway.HttpClient();
        using var request = new HttpRequestMessage(new HttpMethod(method), "/v1/traces");
        request.Headers.Add("x-api-key", TestGateway.AcmeKey);
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Contains("POST", response.Content.Headers.Allow);
        var status = await ReadStatusAsync(response);
        Assert.Equal((int)GrpcStatusCode.Unimplemented, status.Code);
        await AssertStillServingAsync(Gateway);
    }

    [Fact]
    public async Task Overload_is_503_with_Retry_After_and_UNAVAILABLE_with_RetryInfo()
    {
        var log = new ControllableLog(4);
        await using var gateway = await TestGateway.StartAsync(log, configure: o => o.InFlightBudgetBytes = 1);
        using var http = gateway.HttpClient();
        using var channel = gateway.GrpcChannel();

        log.Block();
        var held = http.SendAsync(Post("/v1/traces", Protobuf(Traces("held", 1).ToByteArray())));
        await log.Entered.WaitAsync(TimeSpan.FromSeconds(5));

        using (var response = await http.SendAsync(Post("/v1/traces", Protobuf(Traces("refused", 1).ToByteArray()))))
        {
            await AssertFailureAsync(response, HttpStatusCode.ServiceUnavailable, GrpcStatusCode.Unavailable, retryable: true);
        }

        using (var response = await http.SendAsync(Post("/v1/traces", new StringContent(OtlpJsonOf(Traces("refused-json", 1)), Encoding.UTF8, JsonType))))
        {
            await AssertFailureAsync(response, HttpStatusCode.ServiceUnavailable, GrpcStatusCode.Unavailable, JsonType, retryable: true);
        }

        await AssertGrpcFailureAsync(ExportAsync(channel, Traces("refused-grpc", 1).ToByteArray()), GrpcStatusCode.Unavailable, retryInfo: true);

        log.Release();
        using (var response = await held.WaitAsync(TimeSpan.FromSeconds(10)))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await AssertStillServingAsync(gateway);
    }

    [Fact]
    public async Task Rate_limit_is_429_with_Retry_After_and_RESOURCE_EXHAUSTED_with_RetryInfo()
    {
        const string slowKey = "slow-key-0123456789abcdef";
        var tenants = new TenantFile
        {
            Tenants = [.. TestGateway.DefaultTenants.Tenants, new TenantConfig { Id = "slow", ApiKeys = [slowKey], Limits = new TenantLimits { ItemsPerSecond = 10 } }],
        };
        await using var gateway = await TestGateway.StartAsync(tenants: tenants);
        using var http = gateway.HttpClient();
        using var channel = gateway.GrpcChannel();

        using (var response = await http.SendAsync(Post("/v1/traces", Protobuf(Traces("fits", 10).ToByteArray()), slowKey)))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        using (var response = await http.SendAsync(Post("/v1/traces", Protobuf(Traces("over", 10).ToByteArray()), slowKey)))
        {
            await AssertFailureAsync(response, HttpStatusCode.TooManyRequests, GrpcStatusCode.ResourceExhausted, retryable: true);
        }

        await AssertGrpcFailureAsync(ExportAsync(channel, Traces("over-grpc", 10).ToByteArray(), Key(slowKey)), GrpcStatusCode.ResourceExhausted, retryInfo: true);

        // Other tenants are not limited by it, and the tenant recovers once tokens refill.
        await AssertStillServingAsync(gateway);
        await Task.Delay(400);
        using (var response = await http.SendAsync(Post("/v1/traces", Protobuf(Traces("later", 1).ToByteArray()), slowKey)))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    [Fact]
    public async Task Log_failure_is_503_and_UNAVAILABLE()
    {
        var log = new ControllableLog(4) { Failure = new IOException("storage is down") };
        await using var gateway = await TestGateway.StartAsync(log);
        using var http = gateway.HttpClient();
        using var channel = gateway.GrpcChannel();

        using (var response = await http.SendAsync(Post("/v1/traces", Protobuf(Traces("fail", 5).ToByteArray()))))
        {
            await AssertFailureAsync(response, HttpStatusCode.ServiceUnavailable, GrpcStatusCode.Unavailable, retryable: true);
        }

        var ex = await AssertGrpcFailureAsync(ExportAsync(channel, Traces("fail-grpc", 5).ToByteArray()), GrpcStatusCode.Unavailable, retryInfo: true);
        Assert.DoesNotContain("storage is down", ex.Status.Detail, StringComparison.Ordinal);

        log.Failure = null;
        await AssertStillServingAsync(gateway);
    }

    [Fact]
    public async Task Health_readiness_and_metrics_endpoints_answer()
    {
        using var management = new HttpClient { BaseAddress = Gateway.ManagementUri };
        using var http = Gateway.HttpClient();
        Assert.Equal(HttpStatusCode.OK, (await management.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);

        var deadline = DateTime.UtcNow.AddSeconds(5);
        HttpStatusCode ready;
        while ((ready = (await management.GetAsync("/readyz")).StatusCode) != HttpStatusCode.OK && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Equal(HttpStatusCode.OK, ready);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/readyz")).StatusCode);

        await AssertStillServingAsync(Gateway);
        string text = "";
        deadline = DateTime.UtcNow.AddSeconds(5);
        while (DateTime.UtcNow < deadline)
        {
            using var response = await management.GetAsync("/metrics");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
            text = await response.Content.ReadAsStringAsync();
            if (text.Contains("otlp_gateway_items_accepted", StringComparison.Ordinal))
            {
                break;
            }

            await Task.Delay(100);
        }

        Assert.Contains("otlp_gateway_items_accepted", text, StringComparison.Ordinal);
        Assert.Contains("tenant=\"acme\"", text, StringComparison.Ordinal);

        // Latency buckets fit for their range (seconds, 0.5 ms to 60 s), not the SDK's millisecond defaults.
        var buckets = text.Split('\n').Where(l => l.StartsWith("otlp_gateway_request_duration_seconds_bucket", StringComparison.Ordinal))
            .Select(l => l[(l.IndexOf("le=\"", StringComparison.Ordinal) + 4)..]).Select(l => l[..l.IndexOf('"', StringComparison.Ordinal)]).Distinct().ToList();
        Assert.Contains("0.0005", buckets);
        Assert.Contains("60", buckets);
        Assert.DoesNotContain("750", buckets);
    }
}
