using System.Text.RegularExpressions;
using Google.Protobuf.Collections;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Trace.V1;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Pipeline.Sampling;

/// <summary>
/// One buffered span with its resource and scope. The resource and scope are shells (no child
/// list) shared by every span of one request, so a buffered span keeps nothing else alive.
/// </summary>
internal sealed record BufferedSpan(ResourceSpans Resource, ScopeSpans Scope, Span Span);

/// <summary>The outcome for a whole trace: keep or drop, the <c>th</c> its spans carry (null = erase), and the policy that decided.</summary>
internal readonly record struct TailDecision(bool Keep, ulong? Threshold, string? Policy);

/// <summary>Per-partition spans-per-second windows of the rate_limiting policies (by policy name), in decision time.</summary>
internal sealed class TailRateWindows
{
    private readonly Dictionary<string, (long Second, long Spent)> _windows = new(StringComparer.Ordinal);

    /// <summary>Takes <paramref name="spans"/> from the current second's allowance; false (and nothing taken) when it does not fit.</summary>
    public bool TryTake(string policy, DateTimeOffset now, long spans, double perSecond)
    {
        long second = now.ToUnixTimeSeconds();
        var (at, spent) = _windows.GetValueOrDefault(policy);
        if (at != second)
        {
            spent = 0;
        }

        if (spent + spans > perSecond)
        {
            _windows[policy] = (second, spent);
            return false;
        }

        _windows[policy] = (second, spent + spans);
        return true;
    }
}

/// <summary>
/// A tenant's tail-sampling policies, compiled once per config version. A trace is kept when any
/// policy matches, as in the Collector's <c>tail_sampling</c> processor. Evaluation order fixes
/// which policy a kept trace is attributed to: the deterministic policies first, then
/// <c>probabilistic</c> (its kept spans carry the consistent <c>ot=th</c>), then
/// <c>rate_limiting</c> and <c>composite</c> (which so spend their allowance only on traces nothing
/// else keeps). A trace kept by any policy other than probabilistic (composite and <c>and</c>
/// included, whatever their sub-policies) has <c>th</c> erased: its inclusion probability is
/// not the threshold's, as the specification requires. An inverted attribute policy is an
/// ordinary match ("no span has a matching value"); it does not veto other policies (the
/// Collector's behaviour with its <c>disableinvertdecisions</c> gate).
/// </summary>
internal sealed class TailPolicySet
{
    private readonly Compiled[] _deterministic;
    private readonly Compiled[] _probabilistic;
    private readonly Compiled[] _rateLimited;

    public TailPolicySet(TailSamplingConfig config)
    {
        var all = config.Policies.Select(p => Compile(p, "")).ToArray();
        _deterministic = all.Where(p => p.Policy.Type is not (TailPolicyType.Probabilistic or TailPolicyType.RateLimiting or TailPolicyType.Composite)).ToArray();
        _probabilistic = all.Where(p => p.Policy.Type == TailPolicyType.Probabilistic).ToArray();
        _rateLimited = all.Where(p => p.Policy.Type is TailPolicyType.RateLimiting or TailPolicyType.Composite).ToArray();
    }

    /// <summary>Decides for one trace (all its buffered spans, at least one).</summary>
    /// <param name="partitionCount">A rate limit is tenant-wide; each partition gets this share of it.</param>
    public TailDecision Decide(IReadOnlyList<BufferedSpan> spans, DateTimeOffset now, TailRateWindows rates, int partitionCount)
    {
        foreach (var p in _deterministic)
        {
            if (Matches(p, spans, now, rates, partitionCount))
            {
                return new TailDecision(true, null, p.Policy.Name);
            }
        }

        foreach (var p in _probabilistic)
        {
            var decision = Probabilistic(p, spans);
            if (decision.Keep)
            {
                return new TailDecision(true, decision.Threshold, p.Policy.Name);
            }
        }

        foreach (var p in _rateLimited)
        {
            if (Matches(p, spans, now, rates, partitionCount))
            {
                return new TailDecision(true, null, p.Policy.Name);
            }
        }

        return new TailDecision(false, null, null);
    }

    /// <param name="Key">The policy's rate window: its name qualified by its parents', as sub-policy names are only unique among siblings.</param>
    /// <param name="Children">and: its policies; composite: its sub-policies in evaluation order.</param>
    /// <param name="Allocations">composite: each child's tenant-wide spans per second.</param>
    private sealed record Compiled(TailPolicy Policy, string Key, Regex[]? Patterns, TraceSampler? Sampler, Compiled[] Children, double[] Allocations);

    private static Compiled Compile(TailPolicy policy, string parent)
    {
        string key = parent.Length == 0 ? policy.Name : parent + "\u0000" + policy.Name;
        Compiled[] children = policy.And?.Policies.Select(c => Compile(c, key)).ToArray() ?? [];
        double[] allocations = [];
        if (policy.Composite is { } composite)
        {
            // As the Collector does: sub-policies in list order (its policy_order is not used at run
            // time); a sub-policy gets its percent of the total, an equal share for 0 %, and nothing
            // without an allocation (pasted configs behave the same here as there).
            var subs = composite.SubPolicies.ToArray();
            children = subs.Select(c => Compile(c, key)).ToArray();
            var percents = composite.RateAllocation.ToDictionary(a => a.Policy, a => a.Percent, StringComparer.Ordinal);
            double equalShare = (double)composite.MaxTotalSpansPerSecond / subs.Length;
            allocations = subs
                .Select(c => !percents.TryGetValue(c.Name, out double pc) ? 0 : pc > 0 ? composite.MaxTotalSpansPerSecond * pc / 100 : equalShare)
                .ToArray();
        }

        return new(
            policy,
            key,
            policy.StringAttribute is { EnabledRegexMatching: true } s
                ? s.Values.Select(v => new Regex(v, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1))).ToArray()
                : null,
            policy.Probabilistic is { } pr ? new TraceSampler(SamplingMode.Proportional, pr.SamplingPercentage) : null,
            children,
            allocations);
    }

    private static bool Matches(Compiled p, IReadOnlyList<BufferedSpan> spans, DateTimeOffset now, TailRateWindows rates, int partitionCount)
    {
        var policy = p.Policy;
        switch (policy.Type)
        {
            case TailPolicyType.AlwaysSample:
                return true;
            case TailPolicyType.Latency:
                ulong start = ulong.MaxValue, end = 0;
                foreach (var s in spans)
                {
                    start = Math.Min(start, s.Span.StartTimeUnixNano);
                    end = Math.Max(end, s.Span.EndTimeUnixNano);
                }

                var duration = end > start ? TimeSpan.FromTicks((long)((end - start) / 100)) : TimeSpan.Zero;
                return duration >= policy.Latency!.Threshold && (policy.Latency.UpperThreshold is not { } upper || duration <= upper);
            case TailPolicyType.StatusCode:
                var codes = policy.StatusCode!.StatusCodes;
                return spans.Any(s => codes.Contains(StatusOf(s.Span)));
            case TailPolicyType.StringAttribute:
                var sa = policy.StringAttribute!;
                bool anyString = spans.Any(s => Any(s, sa.Key, v => v.ValueCase == AnyValue.ValueOneofCase.StringValue && StringMatches(p, sa, v.StringValue)));
                return anyString != sa.InvertMatch;
            case TailPolicyType.NumericAttribute:
                var na = policy.NumericAttribute!;
                bool anyNumber = spans.Any(s => Any(s, na.Key, v => v.ValueCase == AnyValue.ValueOneofCase.IntValue
                    && (na.MinValue is not { } min || v.IntValue >= min) && (na.MaxValue is not { } max || v.IntValue <= max)));
                return anyNumber != na.InvertMatch;
            case TailPolicyType.Probabilistic:
                return Probabilistic(p, spans).Keep;
            case TailPolicyType.SpanCount:
                var sc = policy.SpanCount!;
                return spans.Count >= sc.MinSpans && (sc.MaxSpans is not { } maxSpans || spans.Count <= maxSpans);
            case TailPolicyType.RateLimiting:
                double share = (double)policy.RateLimiting!.SpansPerSecond / Math.Max(1, partitionCount);
                return rates.TryTake(p.Key, now, spans.Count, share);
            case TailPolicyType.And:
                // Rate limits last, so an and-policy spends its allowance only on traces its other parts keep.
                foreach (var child in p.Children.OrderBy(c => c.Policy.Type == TailPolicyType.RateLimiting))
                {
                    if (!Matches(child, spans, now, rates, partitionCount))
                    {
                        return false;
                    }
                }

                return true;
            case TailPolicyType.Composite:
                // The first matching sub-policy decides, as in the Collector: kept while its share of
                // this second has room for the trace's spans, otherwise not kept by this policy.
                for (int i = 0; i < p.Children.Length; i++)
                {
                    var child = p.Children[i];
                    if (Matches(child, spans, now, rates, partitionCount))
                    {
                        return rates.TryTake(child.Key + "\u0000share", now, spans.Count, p.Allocations[i] / Math.Max(1, partitionCount));
                    }
                }

                return false;
            default:
                return false;
        }
    }

    private static SpanStatusCode StatusOf(Span span) => span.Status?.Code switch
    {
        Status.Types.StatusCode.Ok => SpanStatusCode.Ok,
        Status.Types.StatusCode.Error => SpanStatusCode.Error,
        _ => SpanStatusCode.Unset,
    };

    private static bool StringMatches(Compiled p, StringAttributePolicy policy, string value)
    {
        if (p.Patterns is { } patterns)
        {
            foreach (var pattern in patterns)
            {
                if (pattern.IsMatch(value))
                {
                    return true;
                }
            }

            return false;
        }

        foreach (var v in policy.Values)
        {
            if (string.Equals(v, value, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>True when the span's or its resource's attribute <paramref name="key"/> satisfies <paramref name="test"/>.</summary>
    private static bool Any(BufferedSpan s, string key, Func<AnyValue, bool> test) =>
        Find(s.Span.Attributes, key, test) || (s.Resource.Resource is { } r && Find(r.Attributes, key, test));

    private static bool Find(RepeatedField<KeyValue> attributes, string key, Func<AnyValue, bool> test)
    {
        foreach (var kv in attributes)
        {
            if (kv.Key == key && kv.Value != null && test(kv.Value))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The consistent decision for the trace, as head sampling takes it per span: randomness from
    /// <c>ot=rv</c> (the first span that carries it) else the trace id, the incoming <c>th</c> raised
    /// proportionally, so the answer is the same whichever drainer (or which subset of spans) decides.
    /// </summary>
    private static SamplingDecision Probabilistic(Compiled p, IReadOnlyList<BufferedSpan> spans)
    {
        string? state = null;
        foreach (var s in spans)
        {
            if (s.Span.TraceState.Contains("ot=", StringComparison.Ordinal))
            {
                state = s.Span.TraceState;
                break;
            }
        }

        return p.Sampler!.Decide(spans[0].Span.TraceId.Span, state);
    }

    /// <summary>Sets (or, for null, erases) <c>th</c> in a kept span's trace state.</summary>
    public static void Mark(Span span, ulong? threshold)
    {
        string state = OtelTraceState.WithThreshold(span.TraceState, threshold);
        if (!string.Equals(state, span.TraceState, StringComparison.Ordinal))
        {
            span.TraceState = state;
        }
    }
}
