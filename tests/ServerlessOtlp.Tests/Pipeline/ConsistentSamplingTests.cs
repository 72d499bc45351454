using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Trace.V1;
using ServerlessOtlp.Otlp.Wire;
using ServerlessOtlp.Pipeline.Sampling;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Otlp;

namespace ServerlessOtlp.Tests.Pipeline;

public class ConsistentSamplingTests
{
    // The specification's table ("Converting floating-point probability to threshold value"), precision 3, 4, 5.
    [Theory]
    [InlineData(1.0, "0", "0", "0")]
    [InlineData(0.5, "8", "8", "8")]
    [InlineData(1.0 / 3, "aab", "aaab", "aaaab")]
    [InlineData(0.25, "c", "c", "c")]
    [InlineData(0.2, "ccd", "cccd", "ccccd")]
    [InlineData(0.125, "e", "e", "e")]
    [InlineData(0.1, "e66", "e666", "e6666")]
    [InlineData(0.0625, "f", "f", "f")]
    [InlineData(0.01, "fd71", "fd70a", "fd70a4")]
    [InlineData(0.001, "ffbe7", "ffbe77", "ffbe76d")]
    [InlineData(0.0001, "fff972", "fff9724", "fff97247")]
    [InlineData(0.00001, "ffff584", "ffff583a", "ffff583a5")]
    [InlineData(0.000001, "ffffef4", "ffffef39", "ffffef391")]
    public void Thresholds_match_the_specification_table(double probability, string p3, string p4, string p5)
    {
        Assert.Equal(p3, ConsistentProbability.FormatThreshold(ConsistentProbability.ProbabilityToThreshold(probability, 3)));
        Assert.Equal(p4, ConsistentProbability.FormatThreshold(ConsistentProbability.ProbabilityToThreshold(probability, 4)));
        Assert.Equal(p5, ConsistentProbability.FormatThreshold(ConsistentProbability.ProbabilityToThreshold(probability, 5)));
    }

    [Theory]
    [InlineData("0", 1.0)]
    [InlineData("8", 0.5)]
    [InlineData("c", 0.25)]
    public void Th_values_mean_their_probabilities(string th, double probability)
    {
        Assert.True(ConsistentProbability.TryParseThreshold(th, out ulong t));
        Assert.Equal(probability, ConsistentProbability.ThresholdToProbability(t));
    }

    [Fact]
    public void Kept_set_is_exactly_R_at_least_T_for_100k_trace_ids()
    {
        var sampler = new TraceSampler(SamplingMode.Proportional, 10);
        ulong t = ConsistentProbability.ProbabilityToThreshold(0.1);
        var rnd = new Random(42);
        var id = new byte[16];
        int kept = 0;
        for (int i = 0; i < 100_000; i++)
        {
            rnd.NextBytes(id);
            ulong r = ConsistentProbability.RandomnessFromTraceId(id);
            var d = sampler.Decide(id, null);
            Assert.Equal(r >= t, d.Keep);
            if (d.Keep)
            {
                Assert.Equal(t, d.Threshold);
                kept++;
            }
        }

        Assert.InRange(kept, 9_500, 10_500);
    }

    [Fact]
    public void Sampling_twice_only_raises_the_threshold()
    {
        var half = new TraceSampler(SamplingMode.Proportional, 50);
        var rnd = new Random(7);
        var id = new byte[16];
        for (int i = 0; i < 2000; i++)
        {
            rnd.NextBytes(id);
            var first = half.Decide(id, null);
            if (!first.Keep)
            {
                continue;
            }

            string state = OtelTraceState.WithThreshold("vendor=x", first.Threshold);
            Assert.StartsWith("ot=th:8", state);
            var second = half.Decide(id, state);
            if (second.Keep)
            {
                Assert.Equal("c", ConsistentProbability.FormatThreshold(second.Threshold!.Value)); // 50 % of 50 % = 25 %
                Assert.True(second.Threshold > first.Threshold);
            }
        }
    }

    [Fact]
    public void Equalizing_leaves_a_higher_incoming_threshold_alone()
    {
        var equalizing = new TraceSampler(SamplingMode.Equalizing, 50);
        ulong r = 0xF0000000000000; // passes every threshold below it
        var d = equalizing.Decide(r, 0xE0000000000000); // incoming th:e (12.5 %) is stricter than 50 %
        Assert.True(d.Keep);
        Assert.Equal(0xE0000000000000UL, d.Threshold);
        var lower = equalizing.Decide(r, 0x40000000000000); // incoming th:4 (75 %) is raised to th:8
        Assert.Equal(0x80000000000000UL, lower.Threshold);
    }

    [Fact]
    public void Inconsistent_incoming_threshold_is_erased()
    {
        var all = new TraceSampler(SamplingMode.Proportional, 100);
        // rv below th: the incoming threshold contradicts the randomness.
        var d = all.Decide(new byte[16] { 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 1 }, "ot=th:8;rv:00000000000001");
        Assert.True(d.Keep);
        Assert.Equal(0UL, d.Threshold);
    }

    [Fact]
    public void Explicit_rv_wins_over_the_trace_id()
    {
        var half = new TraceSampler(SamplingMode.Proportional, 50);
        var id = Enumerable.Repeat((byte)0xFF, 16).ToArray(); // trace-id randomness would keep it
        Assert.False(half.Decide(id, "ot=rv:00000000000000").Keep);
        Assert.True(half.Decide(new byte[16] { 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, "ot=rv:ffffffffffffff").Keep);
    }

    [Fact]
    public void Trace_state_rewrite_keeps_other_members_and_rv()
    {
        Assert.Equal("ot=th:c;rv:0123456789abcd,congo=t61rcWkgMzE", OtelTraceState.WithThreshold("congo=t61rcWkgMzE,ot=th:8;rv:0123456789abcd", 0xC0000000000000));
        Assert.Equal("congo=t61rcWkgMzE", OtelTraceState.WithThreshold("congo=t61rcWkgMzE,ot=th:8", null));
        Assert.Equal("ot=th:0", OtelTraceState.WithThreshold(null, 0));
    }

    [Fact]
    public void Wire_sampler_drops_without_decoding_and_marks_kept_spans()
    {
        var request = OtlpTestData.Traces(11, resources: 3, scopes: 2, spans: 50, invalidShare: 0);
        request.ResourceSpans[0].ScopeSpans[0].Spans[0].TraceState = "vendor=a";
        var sampler = new TraceSampler(SamplingMode.Proportional, 25);
        using var output = new PooledBuffer();
        var counts = WireSampler.SampleTraces(request.ToByteArray(), sampler, output);
        var sampled = ExportTraceServiceRequest.Parser.ParseFrom(output.WrittenSpan);

        var expected = request.ResourceSpans.SelectMany(r => r.ScopeSpans).SelectMany(s => s.Spans)
            .Where(s => ConsistentProbability.RandomnessFromTraceId(s.TraceId.Span) >= 0xC0000000000000).Select(s => s.SpanId).ToHashSet();
        var keptSpans = sampled.ResourceSpans.SelectMany(r => r.ScopeSpans).SelectMany(s => s.Spans).ToList();
        Assert.Equal(expected, keptSpans.Select(s => s.SpanId).ToHashSet());
        Assert.Equal(expected.Count, counts.Kept);
        Assert.All(keptSpans, s => Assert.StartsWith("ot=th:c", s.TraceState));
        Assert.All(sampled.ResourceSpans, r => Assert.All(r.ScopeSpans, s => Assert.NotEmpty(s.Spans)));
        Assert.All(sampled.ResourceSpans, r => Assert.Contains(r.Resource.Attributes, a => a.Key == "service.name"));
        // Everything except trace_state is byte-identical.
        var originals = request.ResourceSpans.SelectMany(r => r.ScopeSpans).SelectMany(s => s.Spans).ToDictionary(s => s.SpanId);
        foreach (var span in keptSpans)
        {
            var original = originals[span.SpanId].Clone();
            original.TraceState = span.TraceState;
            Assert.Equal(original, span);
        }
    }
}
