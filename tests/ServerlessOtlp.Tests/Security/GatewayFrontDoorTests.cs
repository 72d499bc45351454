using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Text;
using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Common.V1;
using ServerlessOtlp.Gateway.Health;
using ServerlessOtlp.Gateway.Ingest;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Json;
using ServerlessOtlp.Otlp.Wire;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Gateway;
using static ServerlessOtlp.Tests.Gateway.OtlpRequests;
using GrpcStatusCode = Grpc.Core.StatusCode;

namespace ServerlessOtlp.Tests.Security;

/// <summary>
/// What the gateway decides before doing any work: who is calling, how large the message says it is,
/// whether the decoder could read it, how much of the in-flight budget a tenant may hold, and what
/// each port serves.
/// </summary>
public sealed class GatewayFrontDoorTests
{
    /// <summary>A gRPC request body that sends its frame header and a little, then stays open until released.</summary>
    private sealed class StalledGrpcBody(uint declaredLength) : HttpContent
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Release() => _release.TrySetResult();

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            var header = new byte[5 + 64];
            header[0] = 0;
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(1), declaredLength);
            await stream.WriteAsync(header);
            await stream.FlushAsync();
            await _release.Task; // the rest never comes while the test waits for the answer
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    private static async Task<HttpResponseMessage> SendStalledAsync(TestGateway gateway, string? key, StalledGrpcBody body)
    {
        var client = new HttpClient(new SocketsHttpHandler()) { Timeout = TimeSpan.FromSeconds(60) };
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(gateway.GrpcUri, "/opentelemetry.proto.collector.trace.v1.TraceService/Export"))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = body,
        };
        body.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
        request.Headers.TE.ParseAdd("trailers");
        if (key != null)
        {
            request.Headers.Add("x-api-key", key);
        }

        // Answered while the body is still open: it was judged from the headers and the frame header alone.
        return await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }

    private static string GrpcStatus(HttpResponseMessage response) =>
        response.Headers.TryGetValues("grpc-status", out var values) ? values.Single() : response.TrailingHeaders.GetValues("grpc-status").Single();

    [Theory]
    [InlineData(null)]
    [InlineData("not-a-key-of-anyone-0123456789")]
    public async Task A_gRPC_call_without_a_valid_key_is_UNAUTHENTICATED_before_its_message_is_read(string? key)
    {
        await using var gateway = await TestGateway.StartAsync();
        var body = new StalledGrpcBody(declaredLength: 3 * 1024 * 1024);
        using var response = await SendStalledAsync(gateway, key, body);
        body.Release();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(((int)GrpcStatusCode.Unauthenticated).ToString(), GrpcStatus(response));
        await AssertStillServingAsync(gateway);
    }

    [Fact]
    public async Task A_gRPC_message_over_the_limit_is_refused_from_its_frame_header_before_it_is_read()
    {
        await using var gateway = await TestGateway.StartAsync(configure: o => o.MaxRequestBytes = 256 * 1024);
        var body = new StalledGrpcBody(declaredLength: (256 * 1024) + 1);
        using var response = await SendStalledAsync(gateway, TestGateway.AcmeKey, body);
        body.Release();
        Assert.Equal(((int)GrpcStatusCode.ResourceExhausted).ToString(), GrpcStatus(response));
        Assert.False(response.Headers.Contains("grpc-status-details-bin"), "too large is not worth a retry: no RetryInfo");
        await AssertStillServingAsync(gateway);
    }

    [Fact]
    public async Task Failed_authentications_from_one_address_are_throttled_and_known_keys_from_it_still_work()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var channel = gateway.GrpcChannel();
        var payload = Traces("guess", 1).ToByteArray();
        var answers = new List<GrpcStatusCode>();
        for (int i = 0; i < ServerlessOtlp.Gateway.Security.AuthFailureLimiter.Burst + 5; i++)
        {
            var ex = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => ExportAsync(channel, payload, Key("guess-" + i + "-0123456789abcdef")));
            answers.Add(ex.StatusCode);
        }

        // The burst is answered UNAUTHENTICATED; past it, RESOURCE_EXHAUSTED with a delay and no lookup.
        Assert.All(answers.Take(ServerlessOtlp.Gateway.Security.AuthFailureLimiter.Burst), a => Assert.Equal(GrpcStatusCode.Unauthenticated, a));
        Assert.Contains(GrpcStatusCode.ResourceExhausted, answers.Skip(ServerlessOtlp.Gateway.Security.AuthFailureLimiter.Burst));
        await RawProtocolTests.AssertGrpcFailureAsync(ExportAsync(channel, payload, Key("guess-last-0123456789abcdef")), GrpcStatusCode.ResourceExhausted, retryInfo: true);
        // A client with a real key behind the same address is not locked out.
        await ExportAsync(channel, Traces("known", 1).ToByteArray());
    }

    [Fact]
    public async Task X_Forwarded_For_written_by_the_client_does_not_change_whom_the_limit_counts()
    {
        await using var gateway = await TestGateway.StartAsync(configure: o => o.TrustedProxyHops = 1);
        using var http = gateway.HttpClient();
        var payload = Traces("xff", 1).ToByteArray();
        HttpStatusCode last = 0;
        for (int i = 0; i < ServerlessOtlp.Gateway.Security.AuthFailureLimiter.Burst + 1; i++)
        {
            var request = Post("/v1/traces", Protobuf(payload), key: "wrong-key-0123456789abcdef-" + i);
            // The client claims a new address each time in front of what the (one trusted) proxy appends.
            request.Headers.Add("X-Forwarded-For", $"10.0.{i}.1, 203.0.113.7");
            using var response = await http.SendAsync(request);
            last = response.StatusCode;
        }

        // The proxy's entry (the last one) is the client: all these failures were one address's.
        Assert.Equal(HttpStatusCode.TooManyRequests, last);
    }

    [Fact]
    public async Task Malformed_nested_protobuf_is_refused_400_at_receipt_as_its_JSON_is()
    {
        await using var gateway = await TestGateway.StartAsync();
        // A span attribute whose AnyValue claims 9 bytes where 2 follow: top-level framing is fine, the drain's decoder would throw.
        var request = Traces("nested", 1);
        var attribute = new KeyValue { Key = "k", Value = new AnyValue { StringValue = "vv" } };
        request.ResourceSpans[0].ScopeSpans[0].Spans[0].Attributes.Add(attribute);
        var good = request.ToByteArray();
        // KeyValue: 0A 01 'k' 12 04 | AnyValue: 0A 02 'v' 'v' — the string's length byte is at +6.
        int at = good.AsSpan().IndexOf(attribute.ToByteArray());
        Assert.True(at > 0);
        var bad = (byte[])good.Clone();
        bad[at + 6] = 9;
        Assert.Throws<InvalidProtocolBufferException>(() => ExportTraceServiceRequest.Parser.ParseFrom(bad));

        using var http = gateway.HttpClient();
        using (var response = await http.SendAsync(Post("/v1/traces", Protobuf(bad))))
        {
            await RawProtocolTests.AssertFailureAsync(response, HttpStatusCode.BadRequest, GrpcStatusCode.InvalidArgument);
        }

        using var channel = gateway.GrpcChannel();
        await RawProtocolTests.AssertGrpcFailureAsync(ExportAsync(channel, bad), GrpcStatusCode.InvalidArgument, retryInfo: false);
        Assert.DoesNotContain(gateway.Events(Signal.Traces), e => e.Body.AsSpan().IndexOf("nested"u8) >= 0);
    }

    [Fact]
    public async Task Attribute_nesting_deeper_than_the_limit_is_400_over_protobuf_and_JSON_alike()
    {
        await using var gateway = await TestGateway.StartAsync();
        var request = Traces("deep", 1);
        request.ResourceSpans[0].ScopeSpans[0].Spans[0].Attributes.Add(new KeyValue { Key = "deep", Value = Nested(40) });
        using var http = gateway.HttpClient();
        using (var response = await http.SendAsync(Post("/v1/traces", Protobuf(request.ToByteArray()))))
        {
            await RawProtocolTests.AssertFailureAsync(response, HttpStatusCode.BadRequest, GrpcStatusCode.InvalidArgument);
        }

        using (var response = await http.SendAsync(Post("/v1/traces", new StringContent(OtlpJson.Format(request), Encoding.UTF8, "application/json"))))
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }

        static AnyValue Nested(int levels)
        {
            var value = new AnyValue { StringValue = "bottom" };
            for (int i = 0; i < levels; i++)
            {
                value = new AnyValue { KvlistValue = new KeyValueList { Values = { new KeyValue { Key = "l" + i, Value = value } } } };
            }

            return value;
        }
    }

    /// <summary>What the validator accepts, the drain's decoder reads: random corruptions of real requests.</summary>
    [Fact]
    public void The_wire_validator_never_accepts_what_the_decoder_refuses()
    {
        var seeds = new[] { Traces("fuzz", 20).ToByteArray(), OtlpTestDataRequests.Metrics(), OtlpTestDataRequests.Logs() };
        var rnd = new Random(11);
        int accepted = 0, refused = 0;
        for (int round = 0; round < 20_000; round++)
        {
            int which = round % 3;
            var data = (byte[])seeds[which].Clone();
            int flips = 1 + rnd.Next(3);
            for (int f = 0; f < flips; f++)
            {
                data[rnd.Next(data.Length)] = (byte)rnd.Next(256);
            }

            var signal = which switch { 0 => Signal.Traces, 1 => Signal.Metrics, _ => Signal.Logs };
            bool valid;
            try
            {
                OtlpWireValidator.Validate(signal, data);
                valid = true;
                accepted++;
            }
            catch (InvalidDataException)
            {
                valid = false;
                refused++;
            }

            if (valid)
            {
                // Whatever the validator let through, Google.Protobuf decodes (as the drain does).
                _ = signal switch
                {
                    Signal.Traces => (IMessage)ExportTraceServiceRequest.Parser.ParseFrom(data),
                    Signal.Metrics => OpenTelemetry.Proto.Collector.Metrics.V1.ExportMetricsServiceRequest.Parser.ParseFrom(data),
                    _ => OpenTelemetry.Proto.Collector.Logs.V1.ExportLogsServiceRequest.Parser.ParseFrom(data),
                };
            }
        }

        Assert.True(accepted > 1000 && refused > 1000, $"accepted {accepted}, refused {refused}: the corpus should exercise both");
    }

    [Fact]
    public async Task A_tenant_flooding_the_in_flight_budget_leaves_room_for_another_tenant()
    {
        // One partition: the first request's append blocks, every later one parks behind it, one part each.
        var log = new ControllableLog(1);
        await using var gateway = await TestGateway.StartAsync(log, configure: o => o.InFlightBudgetBytes = 8 * 1024 * 1024);
        var ingest = gateway.App.Services.GetRequiredService<IngestService>();
        var budget = ingest.Budget;
        log.Block();
        using var http = gateway.HttpClient();
        var big = Traces("flood", 2000).ToByteArray(); // ~200 KB each
        var held = new List<Task<HttpResponseMessage>>();
        HttpStatusCode refusal = 0;
        for (int i = 0; i < 200 && refusal == 0; i++)
        {
            var send = http.SendAsync(Post("/v1/traces", Protobuf(big)));
            // Either it parks (its reservation is final by then) or it is refused: one request at a time.
            var parked = i == 0 ? log.Entered : WaitQueuedAsync(ingest, i);
            if (await Task.WhenAny(send, parked) == send)
            {
                refusal = send.Result.StatusCode;
                send.Result.Dispose();
            }
            else
            {
                held.Add(send);
            }
        }

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refusal);
        // Alone, a tenant holds at most half the budget past the half mark (plus the request that crossed it).
        Assert.True(budget.UsedBy("acme") <= (budget.Capacity / 2) + (4L * big.Length), $"acme holds {budget.UsedBy("acme")} of {budget.Capacity}");

        // Another tenant still gets in: its request parks at the (blocked) log instead of a 503.
        var other = http.SendAsync(Post("/v1/traces", Protobuf(Traces("globex", 5).ToByteArray()), key: TestGateway.GlobexKey));
        var admitted = await Task.WhenAny(other, WaitQueuedAsync(ingest, held.Count));
        Assert.False(admitted == other, admitted == other ? $"globex was answered {other.Result.StatusCode} (acme holds {budget.UsedBy("acme")}, all {budget.Used})" : "");

        log.Release();
        using (var response = await other)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        foreach (var h in held)
        {
            using var response = await h;
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(0, budget.Used);

        static async Task WaitQueuedAsync(IngestService ingest, int parts)
        {
            while (ingest.QueuedParts < parts)
            {
                await Task.Delay(20);
            }
        }
    }

    [Fact]
    public async Task A_part_the_log_refuses_fails_alone_and_the_other_tenants_part_in_the_same_append_is_durable()
    {
        var log = new RefusingLog(1, refuseTenant: "acme");
        await using var gateway = await TestGateway.StartAsync(log);
        log.Inner.Block();
        using var http = gateway.HttpClient();
        // The first request takes the pump; the next two wait and go in one group commit together.
        var first = http.SendAsync(Post("/v1/traces", Protobuf(Traces("first", 1).ToByteArray()), key: TestGateway.GlobexKey));
        await log.Inner.Entered.WaitAsync(TimeSpan.FromSeconds(30));
        var acme = http.SendAsync(Post("/v1/traces", Protobuf(Traces("acme-part", 3).ToByteArray())));
        var globex = http.SendAsync(Post("/v1/traces", Protobuf(Traces("globex-part", 3).ToByteArray()), key: TestGateway.GlobexKey));
        var ingest = gateway.App.Services.GetRequiredService<IngestService>();
        while (ingest.QueuedParts < 2)
        {
            await Task.Delay(20); // both parts wait behind the blocked append, to go in one group commit
        }

        log.Inner.Release();

        using (var response = await globex)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        using (var response = await acme)
        {
            await RawProtocolTests.AssertFailureAsync(response, HttpStatusCode.RequestEntityTooLarge, GrpcStatusCode.ResourceExhausted);
        }

        (await first).Dispose();
        var ids = log.Inner.Inner.Snapshot(0)
            .SelectMany(e => ExportTraceServiceRequest.Parser.ParseFrom(e.Body).ResourceSpans.SelectMany(r => r.ScopeSpans).SelectMany(s => s.Spans))
            .Select(SpanId).ToList();
        Assert.Equal(3, ids.Count(id => id.StartsWith("globex-part", StringComparison.Ordinal)));
        Assert.DoesNotContain(ids, id => id.StartsWith("acme-part", StringComparison.Ordinal));
        Assert.True(log.Refusals > 0);
    }

    [Fact]
    public async Task Metrics_are_served_on_the_management_port_only_whatever_the_Host_header_says()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var http = gateway.HttpClient();
        var spoofed = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        spoofed.Headers.Host = $"x:{gateway.Options.ManagementPort}";
        using (var response = await http.SendAsync(spoofed))
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.DoesNotContain("otlp_gateway", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using var management = new HttpClient { BaseAddress = gateway.ManagementUri };
        using (var response = await management.GetAsync("/metrics"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // Nor does the management port serve OTLP.
        using (var response = await management.PostAsync("/v1/traces", Protobuf(Traces("mgmt", 1).ToByteArray())))
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
    }

    [Fact]
    public async Task Readyz_on_an_OTLP_port_shows_a_status_and_nothing_else()
    {
        // No periodic readiness check after the first (it would set the gateway ready again under the test's feet).
        await using var gateway = await TestGateway.StartAsync(configure: o => o.HeartbeatInterval = TimeSpan.FromHours(1));
        var readiness = gateway.App.Services.GetRequiredService<Readiness>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!readiness.IsReady)
        {
            Assert.True(DateTime.UtcNow < deadline, "the first readiness check did not finish");
            await Task.Delay(10);
        }

        readiness.SetNotReady("storage unreachable: Connection refused (10.1.2.3:10002) secret-detail");
        using var http = gateway.HttpClient();
        using (var response = await http.GetAsync("/readyz"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("not ready\n", await response.Content.ReadAsStringAsync());
        }

        using var management = new HttpClient { BaseAddress = gateway.ManagementUri };
        using (var response = await management.GetAsync("/readyz"))
        {
            Assert.Contains("secret-detail", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    /// <summary>A log that refuses one tenant's events for good (as Event Hubs refuses an event over its size).</summary>
    private sealed class RefusingLog(int partitions, string refuseTenant) : IPartitionedLog
    {
        public ControllableLog Inner { get; } = new(partitions);

        public int Refusals;

        public string Name => "refusing";

        public int PartitionCount => Inner.PartitionCount;

        public Task OpenAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

        public async Task AppendAsync(int partition, IReadOnlyList<LogEvent> events, CancellationToken cancellationToken = default)
        {
            for (int i = 0; i < events.Count; i++)
            {
                if (events[i].Properties.Tenant == refuseTenant)
                {
                    await Inner.AppendAsync(partition, events.Take(i).ToList(), cancellationToken);
                    Interlocked.Increment(ref Refusals);
                    throw new LogAppendException(i, refused: true, "event too large for this log");
                }
            }

            await Inner.AppendAsync(partition, events, cancellationToken);
        }

        public Task<ReadBatch> ReadAsync(int partition, LogPosition from, int maxEvents, int maxBytes, FencingToken fence, CancellationToken cancellationToken = default) =>
            Inner.ReadAsync(partition, from, maxEvents, maxBytes, fence, cancellationToken);

        public Task<LogPosition> GetEndAsync(int partition, CancellationToken cancellationToken = default) => Inner.GetEndAsync(partition, cancellationToken);

        public long Lag(LogPosition checkpoint, LogPosition end) => Inner.Lag(checkpoint, end);

        public Task<LogPosition> FindPositionAsync(int partition, DateTimeOffset time, CancellationToken cancellationToken = default) => Inner.FindPositionAsync(partition, time, cancellationToken);

        // Reads keep no state per reader, and a side reader keeps this log's behaviour.
        public IPartitionedLog OpenSideReader() => this;

        public ILogRetention? Retention => null;

        public string? ConsumerGroup => null;

        public ValueTask DisposeAsync() => Inner.DisposeAsync();
    }
}

/// <summary>Valid metrics and logs requests for the corruption corpus.</summary>
internal static class OtlpTestDataRequests
{
    public static byte[] Metrics() => Otlp.OtlpTestData.Metrics(3).ToByteArray();

    public static byte[] Logs() => Otlp.OtlpTestData.Logs(3).ToByteArray();
}
