using OpenTelemetry.Proto.Metrics.V1;
using PromHistogram = ServerlessOtlp.Export.PrometheusRemoteWrite.Prompb.Histogram;
using PromSpan = ServerlessOtlp.Export.PrometheusRemoteWrite.Prompb.BucketSpan;

namespace ServerlessOtlp.Export.PrometheusRemoteWrite;

/// <summary>
/// An exponential histogram's numbers, from a point or an accumulator. Bucket <c>i</c> at scale
/// <c>s</c> holds (base^i, base^(i+1)] with base = 2^(2^−s) (OTLP data model).
/// </summary>
internal readonly record struct ExponentialView(
    int Scale,
    double ZeroThreshold,
    ulong ZeroCount,
    int PositiveOffset,
    IReadOnlyList<ulong> Positive,
    int NegativeOffset,
    IReadOnlyList<ulong> Negative,
    double Sum,
    bool HasSum,
    ulong Count)
{
    public static ExponentialView Of(ExponentialHistogramDataPoint p) => new(
        p.Scale,
        p.ZeroThreshold,
        p.ZeroCount,
        p.Positive?.Offset ?? 0,
        (IReadOnlyList<ulong>?)p.Positive?.BucketCounts ?? [],
        p.Negative?.Offset ?? 0,
        (IReadOnlyList<ulong>?)p.Negative?.BucketCounts ?? [],
        p.Sum,
        p.HasSum,
        p.Count);

    /// <summary>Scales the OTLP data model allows (<c>ExponentialHistogramDataPoint.scale</c>: -10 to 20).</summary>
    public const int MinScale = -10;

    public const int MaxScale = 20;

    /// <summary>
    /// Buckets one range of an accumulator may span: past it the total is downscaled (neighbours merged,
    /// as the data model describes) instead of allocating by the spread of the indexes. 160 is the
    /// OpenTelemetry SDKs' default maximum size of an exponential histogram.
    /// </summary>
    public const int MaxAccumulatedBuckets = 160;

    /// <summary>
    /// Whether the point can stand for real values: a scale the data model allows, and bucket indexes
    /// whose boundaries are finite doubles (|index| up to 1024 · 2^scale). A hostile point with offsets
    /// of ±5·10^8 at scale 0 is refused here rather than accumulated.
    /// </summary>
    public bool IsRepresentable()
    {
        if (Scale is < MinScale or > MaxScale)
        {
            return false;
        }

        long limit = Scale >= 0 ? 1024L << Scale : 1024L >> -Scale;
        return Within(PositiveOffset, Positive.Count) && Within(NegativeOffset, Negative.Count);

        bool Within(int offset, int count) => count == 0 || (offset >= -limit && (long)offset + count - 1 <= limit);
    }

    /// <summary>Adds a delta point to the accumulator (at the coarser of the two scales) and returns the running total.</summary>
    public static ExponentialView Accumulate(DeltaAccumulator acc, ExponentialView delta, bool existed, ulong timeUnixNano)
    {
        if (!existed || acc.Positive == null || acc.Negative == null)
        {
            acc.Scale = delta.Scale;
            acc.Positive = new ExponentialBuckets();
            acc.Negative = new ExponentialBuckets();
            acc.ZeroCount = 0;
            acc.ZeroThreshold = 0;
            acc.Sum = 0;
            acc.Count = 0;
        }

        int scale = Math.Min(acc.Scale, delta.Scale);
        // Coarser still while either range would span more than MaxAccumulatedBuckets.
        while (scale > MinScale
               && (Span(acc.Positive.Offset, acc.Positive.Counts.Length, acc.Scale - scale, delta.PositiveOffset, delta.Positive.Count, delta.Scale - scale) > MaxAccumulatedBuckets
                   || Span(acc.Negative.Offset, acc.Negative.Counts.Length, acc.Scale - scale, delta.NegativeOffset, delta.Negative.Count, delta.Scale - scale) > MaxAccumulatedBuckets))
        {
            scale--;
        }

        acc.Positive = Merge(acc.Positive, acc.Scale - scale, delta.PositiveOffset, delta.Positive, delta.Scale - scale);
        acc.Negative = Merge(acc.Negative, acc.Scale - scale, delta.NegativeOffset, delta.Negative, delta.Scale - scale);
        acc.Scale = scale;
        acc.ZeroCount += delta.ZeroCount;
        acc.ZeroThreshold = Math.Max(acc.ZeroThreshold, delta.ZeroThreshold);
        acc.Sum += delta.Sum;
        acc.Count += delta.Count;
        acc.LastTimeUnixNano = timeUnixNano;
        return new(acc.Scale, acc.ZeroThreshold, acc.ZeroCount, acc.Positive.Offset, acc.Positive.Counts, acc.Negative.Offset, acc.Negative.Counts, acc.Sum, delta.HasSum, acc.Count);

        // Buckets spanned by two ranges once each is downscaled by its own amount (long: indexes may be far apart).
        static long Span(int offsetA, int countA, int byA, int offsetB, int countB, int byB)
        {
            if (countA == 0 && countB == 0)
            {
                return 0;
            }

            long lo = long.MaxValue, hi = long.MinValue;
            if (countA > 0)
            {
                lo = Math.Min(lo, (long)offsetA >> byA);
                hi = Math.Max(hi, ((long)offsetA + countA - 1) >> byA);
            }

            if (countB > 0)
            {
                lo = Math.Min(lo, (long)offsetB >> byB);
                hi = Math.Max(hi, ((long)offsetB + countB - 1) >> byB);
            }

            return hi - lo + 1;
        }

        static ExponentialBuckets Merge(ExponentialBuckets current, int currentBy, int offset, IReadOnlyList<ulong> counts, int by)
        {
            var (ao, a) = ExponentialBuckets.Downscale(current.Offset, current.Counts, currentBy);
            var (bo, b) = ExponentialBuckets.Downscale(offset, counts, by);
            var (o, sum) = ExponentialBuckets.Add(ao, a, bo, b);
            return new ExponentialBuckets { Offset = o, Counts = sum };
        }
    }

    /// <summary>base^index, the lower boundary of bucket <paramref name="index"/> (the upper boundary of index − 1).</summary>
    public double LowerBoundary(int index) => Math.Pow(2, Math.ScaleB(index, -Scale));

    /// <summary>Halves the resolution until at most <paramref name="maxBuckets"/> buckets remain.</summary>
    public ExponentialView DownscaleTo(int maxBuckets)
    {
        var view = this;
        while (view.Positive.Count + view.Negative.Count > maxBuckets && view.Scale > -10)
        {
            view = view.Downscale(1);
        }

        return view;
    }

    public ExponentialView Downscale(int by)
    {
        if (by <= 0)
        {
            return this;
        }

        var (po, p) = ExponentialBuckets.Downscale(PositiveOffset, Positive, by);
        var (no, n) = ExponentialBuckets.Downscale(NegativeOffset, Negative, by);
        return this with { Scale = Scale - by, PositiveOffset = po, Positive = p, NegativeOffset = no, Negative = n };
    }

    /// <summary>
    /// A Prometheus native histogram (integer counts, delta-encoded): schema = scale, clamped to
    /// <paramref name="maxSchema"/> by merging buckets. Prometheus's bucket <c>k</c> holds
    /// (base^(k−1), base^k], so OTLP index i is Prometheus index i + 1.
    /// </summary>
    public PromHistogram ToNative(long timestampMs, int maxSchema)
    {
        var view = Scale > maxSchema ? Downscale(Scale - maxSchema) : this;
        var h = new PromHistogram
        {
            CountInt = view.Count,
            Sum = view.HasSum ? view.Sum : 0,
            Schema = view.Scale,
            ZeroThreshold = view.ZeroThreshold,
            ZeroCountInt = view.ZeroCount,
            Timestamp = timestampMs,
        };
        Encode(view.PositiveOffset, view.Positive, h.PositiveSpans, h.PositiveDeltas);
        Encode(view.NegativeOffset, view.Negative, h.NegativeSpans, h.NegativeDeltas);
        return h;

        static void Encode(int offset, IReadOnlyList<ulong> counts, ICollection<PromSpan> spans, ICollection<long> deltas)
        {
            int first = 0, last = counts.Count - 1;
            while (first <= last && counts[first] == 0)
            {
                first++;
            }

            while (last >= first && counts[last] == 0)
            {
                last--;
            }

            if (first > last)
            {
                return;
            }

            // One span over the populated range; zero buckets inside it are sent as zeros.
            spans.Add(new PromSpan { Offset = offset + first + 1, Length = (uint)(last - first + 1) });
            long previous = 0;
            for (int i = first; i <= last; i++)
            {
                long count = (long)counts[i];
                deltas.Add(count - previous);
                previous = count;
            }
        }
    }
}
