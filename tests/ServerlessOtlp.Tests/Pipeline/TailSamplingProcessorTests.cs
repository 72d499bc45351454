using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Logs.V1;
using OpenTelemetry.Proto.Trace.V1;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Pipeline.Sampling;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Tenants;
using static ServerlessOtlp.Tests.Pipeline.TailSamplingTestData;

namespace ServerlessOtlp.Tests.Pipeline;

/// <summary>The tail-sampling buffer of the tenant pipeline, driven by hand: decision wait, late spans, th, memory cap, checkpoint floor.</summary>
public class TailSamplingProcessorTests
{
    private static TailPolicy Errors => Policy(TailPolicyType.StatusCode, p => p with { StatusCode = new StatusCodePolicy { StatusCodes = [SpanStatusCode.Error] } });

    private static TailPolicy Half => Policy(TailPolicyType.Probabilistic, p => p with { Probabilistic = new ProbabilisticPolicy { SamplingPercentage = 50 } });

    [Fact]
    public async Task Spans_wait_for_the_decision_and_out_of_order_spans_are_decided_together()
    {
        var h = new TailHarness(Tail(Policy(TailPolicyType.Latency, p => p with { Latency = new LatencyPolicy { Threshold = TimeSpan.FromSeconds(1) } }))
            with { DecisionWait = TimeSpan.FromSeconds(10) });
        byte[] slow = TraceId(1, 0), fast = TraceId(2, 0);

        // The child arrives before its root; neither alone is 1 s long, together they are.
        Assert.Equal(EventFate.Delivered, await h.ReceiveAsync(0, 0, Request(Span(slow, "child", 800, 1_200), Span(fast, "fast-root", 0, 10))));
        Assert.Equal(EventFate.Delivered, await h.ReceiveAsync(1, 3, Request(Span(slow, "root", 0, 900))));
        Assert.True(h.Deferral.HasPending(0));
        Assert.Equal(new LogPosition(0), h.Deferral.PendingFloor(0));

        // Before the wait (received time of the first span) nothing is decided.
        await h.FlushAsync(9.9, endOfLog: true);
        Assert.Empty(h.Exporter.Requests);

        await h.FlushAsync(10, endOfLog: true);
        Assert.False(h.Deferral.HasPending(0));
        Assert.Null(h.Deferral.PendingFloor(0));
        Assert.Equal(["child", "root"], h.Exporter.SpanNames.Order());
        Assert.Equal(2, h.Processor.TailKeptTotal);
        Assert.Equal(1, h.Processor.TailDroppedTotal);
    }

    [Fact]
    public async Task While_a_backlog_is_read_the_watermark_decides_and_at_the_end_of_the_log_the_clock()
    {
        var h = new TailHarness(Tail(Policy(TailPolicyType.AlwaysSample)));
        byte[] a = TraceId(1, 0), b = TraceId(2, 0);
        await h.ReceiveAsync(0, 0, Request(Span(a, "a")));
        await h.ReceiveAsync(1, 4, Request(Span(b, "b")));

        // Reading a backlog: the clock is far ahead, but only received time (the watermark, 4 s) counts.
        await h.FlushAsync(3_600, endOfLog: false);
        Assert.Empty(h.Exporter.Requests);
        Assert.Equal(new LogPosition(0), h.Deferral.PendingFloor(0));

        // At the end of the log nothing newer arrives: the clock decides.
        await h.FlushAsync(10, endOfLog: true);
        Assert.Equal(["a"], h.Exporter.SpanNames);
        Assert.Equal(new LogPosition(1), h.Deferral.PendingFloor(0));
        await h.FlushAsync(14, endOfLog: true);
        Assert.Equal(["a", "b"], h.Exporter.SpanNames);
        Assert.Null(h.Deferral.PendingFloor(0));
    }

    [Fact]
    public async Task Late_spans_follow_the_cached_decision_and_kept_spans_have_th_set_or_erased()
    {
        var h = new TailHarness(Tail(Errors, Half));
        string incoming = "ot=th:0;rv:" + HighR.ToString("x14") + ",vendor=x";
        byte[] error = TraceId(1, 0), lucky = TraceId(2, HighR), unlucky = TraceId(3, 0);
        await h.ReceiveAsync(0, 0, Request(
            Span(error, "error", status: Status.Types.StatusCode.Error, traceState: incoming),
            Span(lucky, "lucky"),
            Span(unlucky, "unlucky")));
        await h.FlushAsync(10, endOfLog: true);
        Assert.Equal(["error", "lucky"], h.Exporter.SpanNames.Order());

        // After the decision: late spans go on (or not) at once, marked as their trace was.
        await h.ReceiveAsync(1, 11, Request(
            Span(error, "error-late", traceState: incoming),
            Span(lucky, "lucky-late"),
            Span(unlucky, "unlucky-late")));
        Assert.False(h.Deferral.HasPending(0));
        Assert.Equal(3, h.Processor.TailLateSpansTotal);
        var spans = h.Exporter.Spans.ToDictionary(s => s.Name);
        Assert.Equal(["error", "error-late", "lucky", "lucky-late"], spans.Keys.Order());

        // Kept by a non-probabilistic policy: th erased, rv and other vendors kept. Kept by probabilistic: th set.
        Assert.Equal("ot=rv:" + HighR.ToString("x14") + ",vendor=x", spans["error"].TraceState);
        Assert.Equal(spans["error"].TraceState, spans["error-late"].TraceState);
        Assert.Equal("ot=th:8", spans["lucky"].TraceState);
        Assert.Equal("ot=th:8", spans["lucky-late"].TraceState);
        Assert.Equal(1 + 1, h.Processor.TailDroppedTotal);
    }

    [Fact]
    public async Task The_decision_cache_is_bounded_and_a_forgotten_trace_falls_back_to_the_policies()
    {
        var h = new TailHarness(Tail(Half), limits: new DeferralLimits(1, 100_000, DecisionCacheSize: 1));
        byte[] first = TraceId(1, HighR), second = TraceId(2, HighR);
        await h.ReceiveAsync(0, 0, Request(Span(first, "first")));
        await h.ReceiveAsync(1, 1, Request(Span(second, "second")));
        await h.FlushAsync(11, endOfLog: true);

        // "first" was pushed out of the cache: its late span waits and is decided on its own, the same way.
        await h.ReceiveAsync(2, 12, Request(Span(first, "first-late")));
        Assert.True(h.Deferral.HasPending(0));
        Assert.Equal(0, h.Processor.TailLateSpansTotal);
        await h.FlushAsync(22, endOfLog: true);
        Assert.Equal(["first", "first-late", "second"], h.Exporter.SpanNames.Order());
        Assert.All(h.Exporter.Spans, s => Assert.Equal("ot=th:8", s.TraceState));
    }

    [Fact]
    public async Task A_full_buffer_decides_the_oldest_traces_early_and_drops_nothing_undecided()
    {
        var h = new TailHarness(Tail(Policy(TailPolicyType.AlwaysSample)), limits: new DeferralLimits(1, MaxBufferedSpans: 3, 1000));
        for (int i = 0; i < 5; i++)
        {
            await h.ReceiveAsync(i, i * 0.1, Request(Span(TraceId(i, 0), "t" + i)));
        }

        await h.FlushAsync(1, endOfLog: false);

        Assert.Equal(["t0", "t1"], h.Exporter.SpanNames);
        Assert.Equal(2, h.Processor.TailDecidedEarlyTotal);
        Assert.Equal(new LogPosition(2), h.Deferral.PendingFloor(0));
        await h.FlushAsync(20, endOfLog: true);
        Assert.Equal(["t0", "t1", "t2", "t3", "t4"], h.Exporter.SpanNames);
        Assert.Equal(2, h.Processor.TailDecidedEarlyTotal);
    }

    [Fact]
    public async Task Head_sampling_runs_before_the_buffer_and_transforms_after_the_decision()
    {
        var h = new TailHarness(Tail(Policy(TailPolicyType.AlwaysSample)), head: new TraceSamplingConfig { SamplingPercentage = 50 });
        var tenant = (await h.Tenants.GetAsync(Tenant))!;
        h.Tenants.Replace(new TenantFile { Tenants = [tenant with { Transforms = new OttlStatements { Traces = ["set(span.attributes[\"tail\"], \"after\")"] } }] });
        await h.ReceiveAsync(0, 0, Request(Span(TraceId(1, HighR), "kept-by-head"), Span(TraceId(2, 0), "dropped-by-head")));
        Assert.Equal(1, h.Processor.SampledOutTotal);
        await h.FlushAsync(10, endOfLog: true);

        var span = Assert.Single(h.Exporter.Spans);
        Assert.Equal("kept-by-head", span.Name);
        Assert.Contains(span.Attributes, a => a.Key == "tail" && a.Value.StringValue == "after");
        Assert.Equal("svc", h.Exporter.Requests.OfType<OpenTelemetry.Proto.Collector.Trace.V1.ExportTraceServiceRequest>().Single().ResourceSpans[0].Resource.Attributes[0].Value.StringValue);
    }

    [Fact]
    public async Task A_decided_batch_the_destination_refuses_is_dead_lettered()
    {
        var h = new TailHarness(Tail(Policy(TailPolicyType.AlwaysSample)));
        h.Exporter.Answer = _ => ServerlessOtlp.Export.ExportOutcome.Permanent("no");
        await h.ReceiveAsync(0, 0, Request(Span(TraceId(1, 0), "a")));

        var outcome = await h.FlushAsync(10, endOfLog: true);

        Assert.Equal(new FlushOutcome(1, false), outcome);
        Assert.Equal(1, h.DeadLetters.Count);
    }

    [Fact]
    public async Task Log_records_are_sampled_by_their_trace_id_like_the_spans_of_that_trace()
    {
        var h = new TailHarness(Tail(), head: new TraceSamplingConfig { SamplingPercentage = 25 }, signals: [Signal.Logs]);
        ulong t = ConsistentProbability.ProbabilityToThreshold(0.25);
        var scope = new ScopeLogs();
        scope.LogRecords.Add(new LogRecord { Body = new() { StringValue = "kept" }, TraceId = ByteString.CopyFrom(TraceId(1, t)) });
        scope.LogRecords.Add(new LogRecord { Body = new() { StringValue = "dropped" }, TraceId = ByteString.CopyFrom(TraceId(2, t - 1)) });
        scope.LogRecords.Add(new LogRecord { Body = new() { StringValue = "no-trace" } });
        scope.LogRecords.Add(new LogRecord { Body = new() { StringValue = "zero-trace" }, TraceId = ByteString.CopyFrom(new byte[16]) });
        var request = new ExportLogsServiceRequest { ResourceLogs = { new ResourceLogs { ScopeLogs = { scope } } } };

        Assert.Equal(EventFate.Delivered, await h.ReceiveAsync(0, 0, request, Signal.Logs));

        var written = Assert.IsType<ExportLogsServiceRequest>(Assert.Single(h.Exporter.Requests));
        Assert.Equal(["kept", "no-trace", "zero-trace"], written.ResourceLogs.SelectMany(r => r.ScopeLogs).SelectMany(s => s.LogRecords).Select(l => l.Body.StringValue));
        Assert.Equal(1, h.Processor.SampledOutTotal);

        // The same decision the spans of those traces get.
        var sampler = new TraceSampler(SamplingMode.Proportional, 25);
        Assert.True(sampler.Decide(TraceId(1, t), null).Keep);
        Assert.False(sampler.Decide(TraceId(2, t - 1), null).Keep);
    }

    [Fact]
    public async Task A_composite_policy_keeps_within_its_allocations_and_erases_th()
    {
        // 4 spans/s: "errors" 50 % (2), "all" 50 % (2).
        var h = new TailHarness(Tail(Policy(TailPolicyType.Composite, p => p with
        {
            Composite = new CompositePolicy
            {
                MaxTotalSpansPerSecond = 4,
                PolicyOrder = ["errors", "all"],
                SubPolicies = [Errors with { Name = "errors" }, Policy(TailPolicyType.AlwaysSample, q => q with { Name = "all" })],
                RateAllocation = [new RateAllocation { Policy = "errors", Percent = 50 }, new RateAllocation { Policy = "all", Percent = 50 }],
            },
        })));
        byte[] error = TraceId(1, 0), first = TraceId(2, 0), second = TraceId(3, 0);
        await h.ReceiveAsync(0, 0, Request(
            Span(error, "error", status: Status.Types.StatusCode.Error, traceState: "ot=th:8"), Span(error, "error-child", traceState: "ot=th:8"),
            Span(first, "first"), Span(first, "first-child")));
        await h.ReceiveAsync(1, 0.5, Request(Span(second, "second"), Span(second, "second-child")));

        await h.FlushAsync(60, endOfLog: true);

        // Decided in the same second: the error trace fills "errors", the first ok trace "all", the second finds no room.
        Assert.Equal(["error", "error-child", "first", "first-child"], h.Exporter.SpanNames.Order());
        Assert.All(h.Exporter.Spans, s => Assert.Equal("", s.TraceState));
        Assert.Equal(4, h.Processor.TailKeptTotal);
        Assert.Equal(2, h.Processor.TailDroppedTotal);
    }
}
