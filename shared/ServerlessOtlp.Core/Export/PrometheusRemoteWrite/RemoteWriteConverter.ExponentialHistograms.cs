using OpenTelemetry.Proto.Metrics.V1;
using ServerlessOtlp.Export.PrometheusRemoteWrite.Prompb;

namespace ServerlessOtlp.Export.PrometheusRemoteWrite;

// Exponential histograms (as contrib's histograms.go, exponential part).
internal sealed partial class RemoteWriteConverter
{
    private sealed partial class Run
    {
        /// <summary>An exponential histogram: a native histogram, or classic buckets downscaled to a bounded range; delta points accumulated.</summary>
        private long ExponentialHistogram(Metric metric, List<LabelPair> extra)
        {
            long latest = 0;
            string name = PrometheusNaming.MetricName(metric.Name, metric.Unit, PrometheusMetricType.Histogram);
            Family(name, MetricMetadata.Types.MetricType.Histogram, metric.Description, metric.Unit);
            bool delta = metric.ExponentialHistogram.AggregationTemporality == AggregationTemporality.Delta;
            foreach (var p in metric.ExponentialHistogram.DataPoints)
            {
                var labels = Point(p.TimeUnixNano, p.Attributes, extra, ref latest, out int point, out long ts);
                var view = ExponentialView.Of(p);
                if (!view.IsRepresentable())
                {
                    _batch.DroppedPoints.Add(point); // a scale or bucket indexes no real value has
                    continue;
                }

                if (delta && !IsNoRecordedValue(p.Flags))
                {
                    var acc = _batch.State.Accumulator(AccumulatorKey(name, labels), out bool existed);
                    if (existed && p.TimeUnixNano <= acc.LastTimeUnixNano)
                    {
                        _batch.DroppedPoints.Add(point);
                        continue;
                    }

                    view = ExponentialView.Accumulate(acc, view, existed, p.TimeUnixNano);
                }

                Exponential(labels, name, ts, point, view, IsNoRecordedValue(p.Flags));
            }

            return latest;
        }

        private void Exponential(ReadOnlySpan<LabelPair> labels, string name, long ts, int point, ExponentialView view, bool stale)
        {
            if (Options.NativeHistograms && view.Scale >= MinNativeSchema)
            {
                var native = view.ToNative(ts, MaxNativeSchema);
                if (stale)
                {
                    native.Sum = StaleNaN;
                }

                Add(labels, name, null, null, ts, 0, point, native);
                return;
            }

            view = view.DownscaleTo(MaxBucketsFromExponential);
            string bucket = name + "_bucket";
            ulong cumulative = 0;
            for (int i = view.Negative.Count - 1; i >= 0; i--)
            {
                cumulative += view.Negative[i];
                double le = -view.LowerBoundary(view.NegativeOffset + i);
                Add(labels, bucket, "le", PrometheusNaming.FormatFloat(le), ts, stale ? StaleNaN : cumulative, point);
            }

            if (view.ZeroCount > 0 || view.Negative.Count > 0)
            {
                cumulative += view.ZeroCount;
                Add(labels, bucket, "le", PrometheusNaming.FormatFloat(view.ZeroThreshold), ts, stale ? StaleNaN : cumulative, point);
            }

            for (int i = 0; i < view.Positive.Count; i++)
            {
                cumulative += view.Positive[i];
                double le = view.LowerBoundary(view.PositiveOffset + i + 1);
                Add(labels, bucket, "le", PrometheusNaming.FormatFloat(le), ts, stale ? StaleNaN : cumulative, point);
            }

            Add(labels, bucket, "le", "+Inf", ts, stale ? StaleNaN : view.Count, point);
            if (view.HasSum)
            {
                Add(labels, name + "_sum", null, null, ts, stale ? StaleNaN : view.Sum, point);
            }

            Add(labels, name + "_count", null, null, ts, stale ? StaleNaN : view.Count, point);
        }
    }
}
