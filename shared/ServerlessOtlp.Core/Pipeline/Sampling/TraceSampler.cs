using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Pipeline.Sampling;

/// <summary>The outcome for one span: keep or drop, and the <c>th</c> the kept span carries (null = erase).</summary>
internal readonly record struct SamplingDecision(bool Keep, ulong? Threshold);

/// <summary>
/// A downstream consistent probability sampler, as the specification and the Collector's
/// probabilistic sampler define its two modes. <c>proportional</c> multiplies the incoming
/// probability by the configured one; <c>equalizing</c> raises every span to the configured
/// threshold unless its own is already higher. Thresholds only ever rise; an incoming
/// threshold that the span's randomness contradicts is erased.
/// </summary>
internal sealed class TraceSampler
{
    private readonly SamplingMode _mode;
    private readonly double _probability;
    private readonly int _precision;
    private readonly ulong _equalizingThreshold;

    public TraceSampler(SamplingMode mode, double samplingPercentage, int precision = ConsistentProbability.DefaultPrecision)
    {
        if (samplingPercentage is < 0 or > 100 || double.IsNaN(samplingPercentage))
        {
            throw new ArgumentOutOfRangeException(nameof(samplingPercentage), "samplingPercentage must be in [0, 100]");
        }

        _mode = mode;
        _probability = samplingPercentage / 100.0;
        _precision = precision;
        _equalizingThreshold = _probability >= 1.0 / ConsistentProbability.MaxAdjustedCount
            ? ConsistentProbability.ProbabilityToThreshold(_probability, precision)
            : ConsistentProbability.MaxAdjustedCount;
    }

    public static TraceSampler? For(TraceSamplingConfig? config) =>
        config == null ? null : new TraceSampler(config.Mode, config.SamplingPercentage, config.Precision);

    /// <summary>Decides for a span from its trace id (16 bytes) and W3C trace state.</summary>
    public SamplingDecision Decide(ReadOnlySpan<byte> traceId, string? traceState)
    {
        var ot = OtelTraceState.Parse(traceState);
        ulong r = ot.Randomness ?? ConsistentProbability.RandomnessFromTraceId(traceId);
        ulong? incoming = ot.Threshold;
        if (incoming is ulong t && r < t)
        {
            incoming = null; // inconsistent with this span's randomness: erase it
        }

        return Decide(r, incoming);
    }

    /// <summary>Decides from randomness and a (consistent) incoming threshold.</summary>
    public SamplingDecision Decide(ulong randomness, ulong? incoming)
    {
        if (_probability <= 0)
        {
            return new SamplingDecision(false, null);
        }

        if (_mode == SamplingMode.Equalizing)
        {
            if (incoming is ulong ts && ts > _equalizingThreshold)
            {
                return new SamplingDecision(true, ts); // already sampled more strictly; cannot lower it
            }

            return randomness >= _equalizingThreshold ? new SamplingDecision(true, _equalizingThreshold) : new SamplingDecision(false, null);
        }

        double pIn = incoming is ulong tin ? ConsistentProbability.ThresholdToProbability(tin) : 1.0;
        double pOut = _probability * pIn;
        if (pOut < 1.0 / ConsistentProbability.MaxAdjustedCount)
        {
            return new SamplingDecision(false, null);
        }

        ulong threshold = ConsistentProbability.ProbabilityToThreshold(pOut, _precision);
        if (incoming is ulong floor && threshold < floor)
        {
            threshold = floor; // rounding must never lower a threshold
        }

        return randomness >= threshold ? new SamplingDecision(true, threshold) : new SamplingDecision(false, null);
    }

    /// <summary>Logs carry no trace state: keep iff the trace id's randomness passes the configured threshold.</summary>
    public bool KeepLog(ReadOnlySpan<byte> traceId) =>
        _probability > 0 && ConsistentProbability.RandomnessFromTraceId(traceId) >= _equalizingThreshold;
}
