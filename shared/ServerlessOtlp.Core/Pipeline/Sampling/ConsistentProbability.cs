using System.Buffers.Binary;
using System.Globalization;

namespace ServerlessOtlp.Pipeline.Sampling;

/// <summary>
/// The arithmetic of the OpenTelemetry specification's consistent probability sampling
/// ("TraceState: Probability Sampling"): 56-bit randomness R and rejection threshold T; an item
/// is kept iff R ≥ T. T is carried in the W3C trace state as <c>ot=th:HEX</c> (trailing zeros
/// removed) and R, when explicit, as <c>ot=rv:HEX</c> (14 digits).
/// </summary>
internal static class ConsistentProbability
{
    /// <summary>2^56: thresholds and randomness are 56-bit.</summary>
    public const ulong MaxAdjustedCount = 1UL << 56;

    /// <summary>T = 0: keep everything (<c>th:0</c>).</summary>
    public const ulong AlwaysSample = 0;

    /// <summary>The specification's default precision, in hex digits.</summary>
    public const int DefaultPrecision = 4;

    /// <summary>
    /// The threshold for <paramref name="probability"/> at <paramref name="precision"/> hex digits,
    /// exactly as the specification's reference algorithm computes it: the precision is raised by
    /// the number of leading 'f' digits (from the probability's base-2 exponent), then the
    /// rejection probability is rounded half-up at that many digits.
    /// </summary>
    public static ulong ProbabilityToThreshold(double probability, int precision = DefaultPrecision)
    {
        if (double.IsNaN(probability) || probability < 1.0 / MaxAdjustedCount || probability > 1)
        {
            throw new ArgumentOutOfRangeException(nameof(probability), probability, "probability must be in [2^-56, 1]");
        }

        if (probability == 1)
        {
            return AlwaysSample;
        }

        // frexp: probability = m * 2^exp with m in [0.5, 1); Python's exp // -4 is a floor division.
        int exp = FrexpExponent(probability);
        precision = Math.Max(1, Math.Min(12, precision + (int)Math.Floor(exp / -4.0)));
        double rejection = 2 - probability + Math.ScaleB(0.5, -4 * precision);
        ulong digits13;
        if (rejection >= 2.0)
        {
            digits13 = (1UL << 52) - 1; // "fffffffffffff"
        }
        else
        {
            // The 52 mantissa bits of a double in [1, 2) are its 13 hex digits after "1.".
            digits13 = (ulong)BitConverter.DoubleToInt64Bits(rejection) & ((1UL << 52) - 1);
        }

        ulong kept = digits13 >> (4 * (13 - precision));
        return kept << (56 - (4 * precision));
    }

    public static double ThresholdToProbability(ulong threshold) => (double)(MaxAdjustedCount - threshold) / MaxAdjustedCount;

    /// <summary>The <c>th</c> encoding: hex without trailing zeros; "0" for always-sample.</summary>
    public static string FormatThreshold(ulong threshold)
    {
        if (threshold == 0)
        {
            return "0";
        }

        return threshold.ToString("x14", CultureInfo.InvariantCulture).TrimEnd('0');
    }

    /// <summary>Parses a <c>th</c> value (1–14 hex digits, implicitly right-padded with zeros).</summary>
    public static bool TryParseThreshold(ReadOnlySpan<char> th, out ulong threshold)
    {
        threshold = 0;
        if (th.IsEmpty || th.Length > 14 || !ulong.TryParse(th, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong v))
        {
            return false;
        }

        threshold = v << (4 * (14 - th.Length));
        return true;
    }

    /// <summary>Parses an <c>rv</c> value: exactly 14 hex digits.</summary>
    public static bool TryParseRandomness(ReadOnlySpan<char> rv, out ulong randomness)
    {
        randomness = 0;
        return rv.Length == 14 && ulong.TryParse(rv, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out randomness);
    }

    /// <summary>R from the trace id: its least-significant 56 bits (the last 7 bytes, big-endian).</summary>
    public static ulong RandomnessFromTraceId(ReadOnlySpan<byte> traceId) =>
        BinaryPrimitives.ReadUInt64BigEndian(traceId[8..]) & (MaxAdjustedCount - 1);

    private static int FrexpExponent(double value)
    {
        long bits = BitConverter.DoubleToInt64Bits(value);
        int biased = (int)((bits >> 52) & 0x7FF);
        if (biased == 0)
        {
            // Subnormal: normalise by hand (never reached for p ≥ 2^-56, kept for completeness).
            return FrexpExponent(value * Math.Pow(2, 64)) - 64;
        }

        return biased - 1022; // value = m * 2^(biased-1023) with m in [1,2) → frexp's m in [0.5,1)
    }
}
