using System.Diagnostics;
using System.Diagnostics.Metrics;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using ServerlessOtlp.Client;
using ServerlessOtlp.Client.Implementation;
using Xunit.Abstractions;

using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Client;

/// <summary>
/// The failover exporter honours the gateway's answer, not just the SDK's Success/Failure: a
/// refusal for good is dropped and counted without retries or failover, a throttle with RetryInfo
/// is retried after the delay asked for. Against real gateways on loopback.
/// </summary>
public sealed class GatewayAnswerTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(14, false, "Retryable")] // UNAVAILABLE
    [InlineData(4, false, "Retryable")] // DEADLINE_EXCEEDED
    [InlineData(8, true, "Throttled")] // RESOURCE_EXHAUSTED + RetryInfo
    [InlineData(8, false, "Rejected")] // RESOURCE_EXHAUSTED without RetryInfo (e.g. too large)
    [InlineData(16, false, "Rejected")] // UNAUTHENTICATED
    [InlineData(7, false, "Rejected")] // PERMISSION_DENIED
    [InlineData(3, false, "Rejected")] // INVALID_ARGUMENT
    [InlineData(0, false, "Success")]
    public void Grpc_codes_are_classified_as_the_OTLP_specification_says(int code, bool retryInfo, string expected) =>
        Assert.Equal(expected, GatewayAnswer.FromGrpc(code, retryInfo ? TimeSpan.FromSeconds(1) : null).Kind.ToString());

    [Fact]
    public void Retry_info_is_read_from_grpc_status_details_bin_padded_or_not()
    {
        var status = new Google.Rpc.Status { Code = 8, Message = "slow down" };
        status.Details.Add(Any.Pack(new ErrorInfo { Reason = "x" }));
        status.Details.Add(Any.Pack(new RetryInfo { RetryDelay = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(1500)) }));
        string padded = Convert.ToBase64String(status.ToByteArray());
        Assert.Equal(TimeSpan.FromMilliseconds(1500), GatewayAnswer.ParseRetryDelay(padded));
        Assert.Equal(TimeSpan.FromMilliseconds(1500), GatewayAnswer.ParseRetryDelay(padded.TrimEnd('=')));
        Assert.Null(GatewayAnswer.ParseRetryDelay(Convert.ToBase64String(new Google.Rpc.Status { Code = 8 }.ToByteArray())));
        Assert.Null(GatewayAnswer.ParseRetryDelay("not base64 at all!"));
        Assert.Null(GatewayAnswer.ParseRetryDelay(Convert.ToBase64String([0x1A, 0x7F, 0x01])));
    }

    [Fact]
    public void A_retry_delay_longer_than_an_attempt_is_not_waited_for()
    {
        var limit = TimeSpan.FromSeconds(5);
        Assert.True(GatewayEndpoint<Activity>.ShouldRetry(GatewayAnswer.FromGrpc(8, TimeSpan.FromSeconds(2)), limit));
        Assert.False(GatewayEndpoint<Activity>.ShouldRetry(GatewayAnswer.FromGrpc(8, TimeSpan.FromMinutes(1)), limit));
        Assert.False(GatewayEndpoint<Activity>.ShouldRetry(GatewayAnswer.FromGrpc(16, null), limit));
        Assert.True(GatewayEndpoint<Activity>.ShouldRetry(GatewayAnswer.NoAnswer, limit));
    }

    [Fact]
    public async Task A_wrong_key_is_dropped_and_counted_without_retries_or_failover()
    {
        await using var first = await LoopbackGateway.StartNewAsync();
        await using var second = await LoopbackGateway.StartNewAsync();
        var options = new ServerlessOtlpExporterOptions { ApiKey = "wrong-key-0123456789abcdef", ProbeShare = 0 };
        options.Endpoints.AddRange([first.GrpcUri, second.GrpcUri]);
        options.Retry.MaxRetryAttempts = 3;
        options.Retry.Delay = TimeSpan.FromMilliseconds(10);
        options.CircuitBreaker.MinimumThroughput = 2;
        var dropped = new List<(long Items, string? Reason, string? Status)>();
        using var listener = DroppedListener(dropped);
        var exporter = ServerlessOtlpExporterExtensions.CreateTraceExporter(options);
        using (var run = new FailoverExporterTests.SpanRun(exporter))
        {
            for (int i = 0; i < 5; i++)
            {
                run.Emit(10);
                run.Flush();
            }

            // ForceFlush returns once the last batch is taken from the queue, which can be before its export is answered.
            await FailoverExporterTests.EventuallyAsync(() => exporter.RejectedItems == 50, $"{50 - exporter.RejectedItems} of 50 items were never refused");
            output.WriteLine($"rejected {exporter.RejectedItems}, failovers {exporter.Failovers}, retries {string.Join("/", exporter.Endpoints.Select(e => e.Retries))}, buffered {exporter.BufferedItems}");
            Assert.Equal(50, exporter.RejectedItems);
            Assert.Equal(0, exporter.Failovers);
            Assert.All(exporter.Endpoints, e => Assert.Equal(0, e.Retries));
            Assert.All(exporter.Endpoints, e => Assert.Equal(EndpointHealth.Healthy, e.Health)); // a refused key is not an outage
            Assert.Equal(0, exporter.BufferedItems);
        }

        listener.RecordObservableInstruments();
        lock (dropped)
        {
            Assert.Equal(50, dropped.Where(d => d.Reason == "rejected" && d.Status == "UNAUTHENTICATED").Sum(d => d.Items));
        }

        Assert.Empty(first.SpanUids());
        Assert.Empty(second.SpanUids());
    }

    [Fact]
    public async Task A_throttled_tenant_is_retried_after_the_RetryInfo_delay_on_the_same_endpoint()
    {
        // 10 items/s: the first 10 spans empty the bucket, the next 10 are answered RESOURCE_EXHAUSTED + RetryInfo (~1 s).
        // The gateway's buckets and the client's retry delay share a clock that moves only by the waits
        // themselves, so the bucket refills by exactly the delay the client waited, however busy the machine.
        var time = new InstantTimeProvider();
        await using var limited = await LoopbackGateway.StartNewAsync(itemsPerSecond: 10, time);
        await using var other = await LoopbackGateway.StartNewAsync();
        var options = new ServerlessOtlpExporterOptions { ApiKey = LoopbackGateway.Key, ProbeShare = 0, AttemptTimeout = TimeSpan.FromSeconds(5), TimeProvider = time };
        options.Endpoints.AddRange([limited.GrpcUri, other.GrpcUri]);
        options.Retry.MaxRetryAttempts = 1;
        var exporter = ServerlessOtlpExporterExtensions.CreateTraceExporter(options);
        using var run = new FailoverExporterTests.SpanRun(exporter);
        run.Emit(10);
        run.Flush();
        run.Emit(10);
        run.Flush();

        // ForceFlush returns once the batch is taken from the queue; the retry may still be waiting out its delay.
        var deadline = Stopwatch.StartNew();
        while (limited.SpanUids().Count < 20 && deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(50);
        }

        var endpoint = exporter.Endpoints.Single(e => e.Uri == limited.GrpcUri);
        output.WriteLine($"retries {endpoint.Retries}, RetryInfo delay waited {endpoint.LastRetryDelay}, failovers {exporter.Failovers}, buffered {exporter.BufferedItems}; spans on the limited gateway {limited.SpanUids().Count}, on the other {other.SpanUids().Count}");
        Assert.Equal(1, endpoint.Retries);
        Assert.NotNull(endpoint.LastRetryDelay);
        Assert.InRange(endpoint.LastRetryDelay!.Value, TimeSpan.FromMilliseconds(1), options.AttemptTimeout);
        Assert.Equal(0, exporter.Failovers);
        Assert.Equal(0, exporter.RejectedItems);
        Assert.Equal(EndpointHealth.Healthy, endpoint.Health); // throttling is the tenant's, not the endpoint's
        Assert.Equal(Enumerable.Range(0, 20).Select(run.Uid).Order(), limited.SpanUids().Order());
        Assert.Empty(other.SpanUids());
    }

    private static MeterListener DroppedListener(List<(long, string?, string?)> sink)
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == ServerlessOtlpExporterExtensions.MeterName && instrument.Name == "serverlessotlp.client.dropped_items")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string? reason = null, status = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "reason")
                {
                    reason = tag.Value as string;
                }
                else if (tag.Key == "rpc.grpc.status")
                {
                    status = tag.Value as string;
                }
            }

            lock (sink)
            {
                sink.Add((value, reason, status));
            }
        });
        listener.Start();
        return listener;
    }
}
