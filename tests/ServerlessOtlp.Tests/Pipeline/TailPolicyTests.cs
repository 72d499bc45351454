using OpenTelemetry.Proto.Trace.V1;
using ServerlessOtlp.Pipeline.Sampling;
using ServerlessOtlp.Tenants;
using static ServerlessOtlp.Tests.Pipeline.TailSamplingTestData;

namespace ServerlessOtlp.Tests.Pipeline;

/// <summary>Each tail-sampling policy on a trace that matches it and one that does not (Collector tail_sampling semantics).</summary>
public class TailPolicyTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static TailDecision Decide(TailPolicy policy, List<BufferedSpan> trace, TailRateWindows? rates = null, int partitions = 1) =>
        new TailPolicySet(Tail(policy)).Decide(trace, Now, rates ?? new TailRateWindows(), partitions);

    private static byte[] Id(int n = 1) => TraceId(n, 0); // R = 0: no probabilistic policy below 100 % keeps it

    [Fact]
    public void Always_sample_keeps_every_trace_and_erases_th()
    {
        var d = Decide(Policy(TailPolicyType.AlwaysSample), Buffered(Span(Id(), "a", traceState: "ot=th:8;rv:00000000000000")));
        Assert.Equal(new TailDecision(true, null, "AlwaysSample"), d);
    }

    [Fact]
    public void Latency_measures_from_the_earliest_start_to_the_latest_end_of_all_spans()
    {
        var policy = Policy(TailPolicyType.Latency, p => p with { Latency = new LatencyPolicy { Threshold = TimeSpan.FromMilliseconds(500) } });
        Assert.True(Decide(policy, Buffered(Span(Id(), "child", 300, 600), Span(Id(), "root", 0, 400))).Keep);
        Assert.False(Decide(policy, Buffered(Span(Id(), "child", 300, 600), Span(Id(), "root", 200, 400))).Keep);

        var bounded = Policy(TailPolicyType.Latency, p => p with { Latency = new LatencyPolicy { Threshold = TimeSpan.FromMilliseconds(100), UpperThreshold = TimeSpan.FromMilliseconds(200) } });
        Assert.True(Decide(bounded, Buffered(Span(Id(), "a", 0, 150))).Keep);
        Assert.False(Decide(bounded, Buffered(Span(Id(), "a", 0, 250))).Keep);
    }

    [Fact]
    public void Status_code_keeps_a_trace_with_any_span_of_a_listed_code()
    {
        var policy = Policy(TailPolicyType.StatusCode, p => p with { StatusCode = new StatusCodePolicy { StatusCodes = [SpanStatusCode.Error] } });
        Assert.True(Decide(policy, Buffered(Span(Id(), "ok", status: Status.Types.StatusCode.Ok), Span(Id(), "bad", status: Status.Types.StatusCode.Error))).Keep);
        Assert.False(Decide(policy, Buffered(Span(Id(), "ok", status: Status.Types.StatusCode.Ok), Span(Id(), "unset"))).Keep);
    }

    [Fact]
    public void String_attribute_matches_exactly_or_by_regex_on_span_or_resource_and_inverts()
    {
        var exact = Policy(TailPolicyType.StringAttribute, p => p with { StringAttribute = new StringAttributePolicy { Key = "http.route", Values = ["/checkout"] } });
        Assert.True(Decide(exact, Buffered(Span(Id(), "a"), Span(Id(), "b", attributes: Str("http.route", "/checkout")))).Keep);
        Assert.False(Decide(exact, Buffered(Span(Id(), "a", attributes: Str("http.route", "/checkout/x")))).Keep);
        var resource = Policy(TailPolicyType.StringAttribute, p => p with { StringAttribute = new StringAttributePolicy { Key = "service.name", Values = ["svc"] } });
        Assert.True(Decide(resource, Buffered(Span(Id(), "a"))).Keep);

        var regex = Policy(TailPolicyType.StringAttribute, p => p with { StringAttribute = new StringAttributePolicy { Key = "http.route", Values = ["^/checkout(/.*)?$"], EnabledRegexMatching = true } });
        Assert.True(Decide(regex, Buffered(Span(Id(), "a", attributes: Str("http.route", "/checkout/x")))).Keep);
        Assert.False(Decide(regex, Buffered(Span(Id(), "a", attributes: Str("http.route", "/health")))).Keep);

        var inverted = Policy(TailPolicyType.StringAttribute, p => p with { StringAttribute = new StringAttributePolicy { Key = "http.route", Values = ["/health"], InvertMatch = true } });
        Assert.False(Decide(inverted, Buffered(Span(Id(), "a", attributes: Str("http.route", "/health")))).Keep);
        Assert.True(Decide(inverted, Buffered(Span(Id(), "a", attributes: Str("http.route", "/orders")))).Keep);
        Assert.True(Decide(inverted, Buffered(Span(Id(), "a"))).Keep);
    }

    [Fact]
    public void Numeric_attribute_matches_an_inclusive_range_and_inverts()
    {
        var range = Policy(TailPolicyType.NumericAttribute, p => p with { NumericAttribute = new NumericAttributePolicy { Key = "http.response.status_code", MinValue = 500, MaxValue = 599 } });
        Assert.True(Decide(range, Buffered(Span(Id(), "a", attributes: Int("http.response.status_code", 500)))).Keep);
        Assert.True(Decide(range, Buffered(Span(Id(), "a", attributes: Int("http.response.status_code", 599)))).Keep);
        Assert.False(Decide(range, Buffered(Span(Id(), "a", attributes: Int("http.response.status_code", 404)))).Keep);
        Assert.False(Decide(range, Buffered(Span(Id(), "a", attributes: Str("http.response.status_code", "500")))).Keep);

        var minOnly = Policy(TailPolicyType.NumericAttribute, p => p with { NumericAttribute = new NumericAttributePolicy { Key = "retries", MinValue = 3 } });
        Assert.True(Decide(minOnly, Buffered(Span(Id(), "a", attributes: Int("retries", 1_000)))).Keep);

        var inverted = range with { NumericAttribute = range.NumericAttribute! with { InvertMatch = true } };
        Assert.False(Decide(inverted, Buffered(Span(Id(), "a", attributes: Int("http.response.status_code", 503)))).Keep);
        Assert.True(Decide(inverted, Buffered(Span(Id(), "a", attributes: Int("http.response.status_code", 200)))).Keep);
    }

    [Fact]
    public void Probabilistic_is_consistent_with_head_sampling_and_sets_th()
    {
        var policy = Policy(TailPolicyType.Probabilistic, p => p with { Probabilistic = new ProbabilisticPolicy { SamplingPercentage = 25 } });
        ulong t = ConsistentProbability.ProbabilityToThreshold(0.25);
        Assert.Equal(new TailDecision(true, t, "Probabilistic"), Decide(policy, Buffered(Span(TraceId(1, t), "a"))));
        Assert.False(Decide(policy, Buffered(Span(TraceId(1, t - 1), "a"))).Keep);

        // Explicit randomness (rv) wins over the trace id, as in head sampling.
        Assert.True(Decide(policy, Buffered(Span(TraceId(1, 0), "a", traceState: "ot=rv:" + t.ToString("x14")))).Keep);

        // After head sampling at 50 % (th:8), 25 % more is proportional: 12.5 % overall.
        var head = Decide(policy, Buffered(Span(TraceId(1, HighR), "a", traceState: "ot=th:8")));
        Assert.Equal(ConsistentProbability.ProbabilityToThreshold(0.125), head.Threshold);

        var random = new Random(7);
        for (int i = 0; i < 2_000; i++)
        {
            ulong r = (ulong)random.NextInt64() & (ConsistentProbability.MaxAdjustedCount - 1);
            Assert.Equal(r >= t, Decide(policy, Buffered(Span(TraceId(i, r), "a"))).Keep);
        }
    }

    [Fact]
    public void Span_count_keeps_traces_within_the_bounds()
    {
        var policy = Policy(TailPolicyType.SpanCount, p => p with { SpanCount = new SpanCountPolicy { MinSpans = 2, MaxSpans = 3 } });
        Assert.False(Decide(policy, Buffered(Span(Id(), "a"))).Keep);
        Assert.True(Decide(policy, Buffered(Span(Id(), "a"), Span(Id(), "b"))).Keep);
        Assert.False(Decide(policy, Buffered(Span(Id(), "a"), Span(Id(), "b"), Span(Id(), "c"), Span(Id(), "d"))).Keep);
    }

    [Fact]
    public void Rate_limiting_shares_the_tenant_rate_over_the_partitions_per_second()
    {
        var policy = Policy(TailPolicyType.RateLimiting, p => p with { RateLimiting = new RateLimitingPolicy { SpansPerSecond = 40 } });
        var set = new TailPolicySet(Tail(policy));
        var rates = new TailRateWindows();
        var trace = Buffered(Span(Id(), "a"), Span(Id(), "b"), Span(Id(), "c"), Span(Id(), "d"));

        // 40 spans/s over 4 partitions: 10 per second here, so two 4-span traces fit and the third does not.
        Assert.Equal([true, true, false], Enumerable.Range(0, 3).Select(_ => set.Decide(trace, Now, rates, 4).Keep));
        Assert.True(set.Decide(trace, Now.AddSeconds(1), rates, 4).Keep);
    }

    [Fact]
    public void And_keeps_only_when_every_sub_policy_matches_and_any_policy_keeps()
    {
        var and = Policy(TailPolicyType.And, p => p with
        {
            And = new AndPolicy
            {
                Policies =
                [
                    Policy(TailPolicyType.StringAttribute, q => q with { StringAttribute = new StringAttributePolicy { Key = "env", Values = ["prod"] } }),
                    Policy(TailPolicyType.Latency, q => q with { Latency = new LatencyPolicy { Threshold = TimeSpan.FromSeconds(1) } }),
                ],
            },
        });
        Assert.True(Decide(and, Buffered(Span(Id(), "a", 0, 2_000, attributes: Str("env", "prod")))).Keep);
        Assert.False(Decide(and, Buffered(Span(Id(), "a", 0, 500, attributes: Str("env", "prod")))).Keep);
        Assert.False(Decide(and, Buffered(Span(Id(), "a", 0, 2_000, attributes: Str("env", "dev")))).Keep);

        // Any of several policies: an error is kept without th although the probabilistic one would drop it.
        var set = new TailPolicySet(Tail(
            Policy(TailPolicyType.Probabilistic, p => p with { Probabilistic = new ProbabilisticPolicy { SamplingPercentage = 10 } }),
            Policy(TailPolicyType.StatusCode, p => p with { StatusCode = new StatusCodePolicy { StatusCodes = [SpanStatusCode.Error] } })));
        Assert.Equal(new TailDecision(true, null, "StatusCode"), set.Decide(Buffered(Span(TraceId(1, HighR), "a", status: Status.Types.StatusCode.Error)), Now, new TailRateWindows(), 1));
        Assert.Equal("Probabilistic", set.Decide(Buffered(Span(TraceId(1, HighR), "a")), Now, new TailRateWindows(), 1).Policy);
        Assert.False(set.Decide(Buffered(Span(TraceId(1, 0), "a")), Now, new TailRateWindows(), 1).Keep);
    }

    [Fact]
    public void Composite_the_first_matching_sub_policy_decides_within_its_share_and_refills_each_second()
    {
        CompositePolicy Config(params RateAllocation[] allocations) => new()
        {
            MaxTotalSpansPerSecond = 40,
            PolicyOrder = ["errors", "all"],
            SubPolicies =
            [
                Policy(TailPolicyType.StatusCode, q => q with { Name = "errors", StatusCode = new StatusCodePolicy { StatusCodes = [SpanStatusCode.Error] } }),
                Policy(TailPolicyType.AlwaysSample, q => q with { Name = "all" }),
            ],
            RateAllocation = allocations,
        };
        var composite = Policy(TailPolicyType.Composite, p => p with { Composite = Config(new RateAllocation { Policy = "errors", Percent = 50 }, new RateAllocation { Policy = "all", Percent = 25 }) });
        var set = new TailPolicySet(Tail(composite));
        var rates = new TailRateWindows();
        var error = Buffered(Span(Id(), "a", traceState: "ot=th:8", status: Status.Types.StatusCode.Error), Span(Id(), "b"));
        var ok = Buffered(Span(Id(), "a"), Span(Id(), "b"));

        // 40 spans/s over 2 partitions: 20 here; "errors" 50 % (10 spans), "all" 25 % (5 spans).
        // An error trace is decided by "errors" (the first that matches): 5 traces of 2 spans fit, the
        // 6th is not kept even though "all" would match it — as in the Collector.
        Assert.Equal(new TailDecision(true, null, "Composite"), set.Decide(error, Now, rates, 2));
        Assert.Equal([true, true, true, true, false], Enumerable.Range(0, 5).Select(_ => set.Decide(error, Now, rates, 2).Keep));
        Assert.Equal([true, true, false], Enumerable.Range(0, 3).Select(_ => set.Decide(ok, Now, rates, 2).Keep));

        // The next second both shares are full again.
        Assert.Equal(5, Enumerable.Range(0, 6).Count(_ => set.Decide(error, Now.AddSeconds(1), rates, 2).Keep));
        Assert.Equal(2, Enumerable.Range(0, 3).Count(_ => set.Decide(ok, Now.AddSeconds(1), rates, 2).Keep));

        // Without an allocation a sub-policy keeps nothing; with 0 % it gets an equal share (40 / 2 = 20, 10 per partition).
        var unallocated = composite with { Composite = Config(new RateAllocation { Policy = "errors", Percent = 50 }) };
        Assert.False(Decide(unallocated, ok).Keep);
        Assert.True(Decide(unallocated, error).Keep);
        var zero = new TailPolicySet(Tail(composite with { Composite = Config(new RateAllocation { Policy = "errors", Percent = 50 }, new RateAllocation { Policy = "all", Percent = 0 }) }));
        var zeroRates = new TailRateWindows();
        Assert.Equal(5, Enumerable.Range(0, 6).Count(_ => zero.Decide(ok, Now, zeroRates, 2).Keep));
    }
}
