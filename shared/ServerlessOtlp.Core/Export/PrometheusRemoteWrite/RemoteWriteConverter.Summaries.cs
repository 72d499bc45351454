using OpenTelemetry.Proto.Metrics.V1;
using ServerlessOtlp.Export.PrometheusRemoteWrite.Prompb;

namespace ServerlessOtlp.Export.PrometheusRemoteWrite;

// Summaries: a series per quantile, with _sum and _count (as contrib's translator).
internal sealed partial class RemoteWriteConverter
{
    private sealed partial class Run
    {
        /// <summary>A summary: one series per quantile, with _sum and _count.</summary>
        private long Summary(Metric metric, List<LabelPair> extra)
        {
            long latest = 0;
            string name = PrometheusNaming.MetricName(metric.Name, metric.Unit, PrometheusMetricType.Summary);
            Family(name, MetricMetadata.Types.MetricType.Summary, metric.Description, metric.Unit);
            foreach (var p in metric.Summary.DataPoints)
            {
                var labels = Point(p.TimeUnixNano, p.Attributes, extra, ref latest, out int point, out long ts);
                bool stale = IsNoRecordedValue(p.Flags);
                foreach (var q in p.QuantileValues)
                {
                    Add(labels, name, "quantile", PrometheusNaming.FormatFloat(q.Quantile), ts, stale ? StaleNaN : q.Value, point);
                }

                Add(labels, name + "_sum", null, null, ts, stale ? StaleNaN : p.Sum, point);
                Add(labels, name + "_count", null, null, ts, stale ? StaleNaN : p.Count, point);
            }

            return latest;
        }
    }
}
