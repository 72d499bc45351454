using OpenTelemetry.Proto.Metrics.V1;
using ServerlessOtlp.Export.PrometheusRemoteWrite.Prompb;

namespace ServerlessOtlp.Export.PrometheusRemoteWrite;

// Gauges and sums (as contrib's translator/prometheusremotewrite number_data_points.go).
internal sealed partial class RemoteWriteConverter
{
    private sealed partial class Run
    {
        /// <summary>A gauge: one sample per point.</summary>
        private long Gauge(Metric metric, List<LabelPair> extra)
        {
            long latest = 0;
            string name = PrometheusNaming.MetricName(metric.Name, metric.Unit, PrometheusMetricType.Gauge);
            Family(name, MetricMetadata.Types.MetricType.Gauge, metric.Description, metric.Unit);
            foreach (var p in metric.Gauge.DataPoints)
            {
                var labels = Point(p.TimeUnixNano, p.Attributes, extra, ref latest, out int point, out long ts);
                Add(labels, name, null, null, ts, Value(p), point);
            }

            return latest;
        }

        /// <summary>A sum: a counter when monotonic, else a gauge; delta points accumulated into the cumulative Prometheus wants.</summary>
        private long Sum(Metric metric, List<LabelPair> extra)
        {
            long latest = 0;
            var sum = metric.Sum;
            var type = sum.IsMonotonic ? PrometheusMetricType.Counter : PrometheusMetricType.Gauge;
            string name = PrometheusNaming.MetricName(metric.Name, metric.Unit, type);
            Family(name, sum.IsMonotonic ? MetricMetadata.Types.MetricType.Counter : MetricMetadata.Types.MetricType.Gauge, metric.Description, metric.Unit);
            bool delta = sum.AggregationTemporality == AggregationTemporality.Delta;
            foreach (var p in sum.DataPoints)
            {
                var labels = Point(p.TimeUnixNano, p.Attributes, extra, ref latest, out int point, out long ts);
                double value = Value(p);
                if (delta && !IsNoRecordedValue(p.Flags))
                {
                    var acc = _batch.State.Accumulator(AccumulatorKey(name, labels), out bool existed);
                    if (existed && p.TimeUnixNano <= acc.LastTimeUnixNano)
                    {
                        _batch.DroppedPoints.Add(point);
                        continue;
                    }

                    acc.Value += value;
                    acc.LastTimeUnixNano = p.TimeUnixNano;
                    value = acc.Value;
                }

                var series = Add(labels, name, null, null, ts, value, point);
                AddExemplars(series, p.Exemplars);
            }

            return latest;
        }
    }
}
