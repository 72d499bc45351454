using Google.Protobuf.Collections;
using OpenTelemetry.Proto.Metrics.V1;
using ServerlessOtlp.Export.PrometheusRemoteWrite.Prompb;

namespace ServerlessOtlp.Export.PrometheusRemoteWrite;

// Explicit-bucket histograms (as contrib's histograms.go).
internal sealed partial class RemoteWriteConverter
{
    private sealed partial class Run
    {
        /// <summary>An explicit-bucket histogram: classic _bucket/_sum/_count series (or a native histogram); delta points accumulated, malformed ones dropped.</summary>
        private long Histogram(Metric metric, List<LabelPair> extra)
        {
            long latest = 0;
            string name = PrometheusNaming.MetricName(metric.Name, metric.Unit, PrometheusMetricType.Histogram);
            Family(name, MetricMetadata.Types.MetricType.Histogram, metric.Description, metric.Unit);
            bool delta = metric.Histogram.AggregationTemporality == AggregationTemporality.Delta;
            foreach (var p in metric.Histogram.DataPoints)
            {
                var labels = Point(p.TimeUnixNano, p.Attributes, extra, ref latest, out int point, out long ts);
                if (IsNoRecordedValue(p.Flags))
                {
                    ExplicitHistogram(labels, name, ts, point, p.ExplicitBounds, p.BucketCounts, StaleNaN, true, 0, stale: true, p.Exemplars);
                    continue;
                }

                if ((p.BucketCounts.Count != 0 && p.BucketCounts.Count != p.ExplicitBounds.Count + 1) || !StrictlyIncreasing(p.ExplicitBounds))
                {
                    // Malformed (the data model: counts are bounds + 1, bounds strictly increasing): its
                    // cumulative buckets would not be monotonic and every quantile from them would be wrong.
                    _batch.DroppedPoints.Add(point);
                    continue;
                }

                if (!delta)
                {
                    ExplicitHistogram(labels, name, ts, point, p.ExplicitBounds, p.BucketCounts, p.Sum, p.HasSum, p.Count, stale: false, p.Exemplars);
                    continue;
                }

                var acc = _batch.State.Accumulator(AccumulatorKey(name, labels), out bool existed);
                if (existed && p.TimeUnixNano <= acc.LastTimeUnixNano)
                {
                    _batch.DroppedPoints.Add(point);
                    continue;
                }

                if (acc.Bounds == null || !acc.Bounds.AsSpan().SequenceEqual(p.ExplicitBounds.ToArray()))
                {
                    // New series, or its bounds changed: start over (a reset to Prometheus).
                    acc.Bounds = [.. p.ExplicitBounds];
                    acc.BucketCounts = new ulong[acc.Bounds.Length + 1];
                    acc.Sum = 0;
                    acc.Count = 0;
                }

                for (int i = 0; i < p.BucketCounts.Count; i++)
                {
                    acc.BucketCounts![i] += p.BucketCounts[i];
                }

                acc.Sum += p.Sum;
                acc.Count += p.Count;
                acc.LastTimeUnixNano = p.TimeUnixNano;
                ExplicitHistogram(labels, name, ts, point, acc.Bounds, acc.BucketCounts!, acc.Sum, p.HasSum, acc.Count, stale: false, p.Exemplars);
            }

            return latest;
        }

        private void ExplicitHistogram(ReadOnlySpan<LabelPair> labels, string name, long ts, int point, IReadOnlyList<double> bounds, IReadOnlyList<ulong> counts, double sum, bool hasSum, ulong count, bool stale, RepeatedField<OpenTelemetry.Proto.Metrics.V1.Exemplar> exemplars)
        {
            Suffixes(name);
            string bucket = _bucketName;
            ulong cumulative = 0;
            var bucketSeries = _bucketSeries;
            bucketSeries.Clear();
            for (int i = 0; i < bounds.Count; i++)
            {
                cumulative += i < counts.Count ? counts[i] : 0;
                bucketSeries.Add(Add(labels, bucket, "le", Bound(bounds[i]), ts, stale ? StaleNaN : cumulative, point));
            }

            bucketSeries.Add(Add(labels, bucket, "le", "+Inf", ts, stale ? StaleNaN : count, point));
            if (hasSum)
            {
                Add(labels, _sumName, null, null, ts, stale ? StaleNaN : sum, point);
            }

            Add(labels, _countName, null, null, ts, stale ? StaleNaN : count, point);

            // An exemplar goes with the first bucket whose bound holds its value.
            foreach (var e in exemplars)
            {
                double value = ExemplarValue(e);
                int i = 0;
                while (i < bounds.Count && value > bounds[i])
                {
                    i++;
                }

                AddExemplars(bucketSeries[i], [e]);
            }
        }

        private static bool StrictlyIncreasing(IReadOnlyList<double> bounds)
        {
            for (int i = 0; i < bounds.Count; i++)
            {
                if (double.IsNaN(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
                {
                    return false;
                }
            }

            return true;
        }
    }
}
