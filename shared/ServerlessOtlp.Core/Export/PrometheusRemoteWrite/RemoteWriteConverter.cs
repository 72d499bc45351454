using System.Collections.Concurrent;
using System.Text;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Metrics.V1;
using ServerlessOtlp.Export.PrometheusRemoteWrite.Prompb;
using PromExemplar = ServerlessOtlp.Export.PrometheusRemoteWrite.Prompb.Exemplar;
using PromHistogram = ServerlessOtlp.Export.PrometheusRemoteWrite.Prompb.Histogram;

namespace ServerlessOtlp.Export.PrometheusRemoteWrite;

/// <summary>
/// OTLP metrics → Prometheus remote write 1.0 series, per the OpenTelemetry specification's
/// "Prometheus and OpenMetrics compatibility": gauges; monotonic sums as counters (<c>_total</c>),
/// others as gauges; histograms as <c>_bucket{le}</c> / <c>_sum</c> / <c>_count</c>; summaries with
/// <c>quantile</c>; exponential histograms as explicit buckets (or native histograms); <c>job</c>,
/// <c>instance</c>, scope labels and <c>target_info</c>. Delta sums and histograms are accumulated
/// into cumulative series with <see cref="SeriesStateStore"/>.
/// </summary>
internal sealed partial class RemoteWriteConverter
{
    /// <summary>Native histogram schemas Prometheus accepts (<c>-4 ≤ schema ≤ 8</c>).</summary>
    public const int MaxNativeSchema = 8;

    public const int MinNativeSchema = -4;

    /// <summary>
    /// An exponential histogram turned into explicit buckets is downscaled until it has at most this
    /// many (the Collector's default native-histogram bucket limit), to bound the series it makes.
    /// </summary>
    public const int MaxBucketsFromExponential = 160;

    /// <summary>Prometheus's staleness marker (value.StaleNaN), sent for points flagged "no recorded value".</summary>
    public static readonly double StaleNaN = BitConverter.Int64BitsToDouble(0x7ff0000000000002);

    private const string MetricNameLabel = "__name__";
    private const char KeySeparator = '\xff';

    /// <summary>Most series remembered between requests; beyond, the cache starts over.</summary>
    internal const int MaxCachedSeries = 200_000;

    private const int MaxCachedBounds = 4096;

    private readonly PrometheusRemoteWriteOptions _options;
    private readonly TimeProvider _time;

    // Series seen before, by state scope + series key: their key strings and protobuf labels are
    // built once, not per sample (a request's series mostly repeat the previous request's).
    // The labels are shared by every TimeSeries of the series: they are only ever serialized.
    private readonly ConcurrentDictionary<string, CachedSeries> _seriesCache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<long, string> _boundText = new(); // by bits: 0 and -0 print differently
    private int _cachedSeries;
    private Run? _spareRun;

    public RemoteWriteConverter(PrometheusRemoteWriteOptions options, TimeProvider? time = null)
    {
        _options = options;
        _time = time ?? TimeProvider.System;
    }

    /// <param name="stateScope">Prefix of the state keys: tenant and destination.</param>
    public RemoteWriteBatch Convert(ExportMetricsServiceRequest request, string stateScope, SeriesStateTransaction state)
    {
        var batch = new RemoteWriteBatch { State = state };

        // A run's buffers (series table, series buffers, label and key scratch) are kept for the
        // next request: most of a request's allocations were these, and they all died at its end.
        var run = Interlocked.Exchange(ref _spareRun, null) ?? new Run(this);
        run.Start(batch, stateScope);
        foreach (var rm in request.ResourceMetrics)
        {
            run.Resource(rm);
        }

        run.Finish();
        _spareRun = run;
        return batch;
    }

    private readonly record struct LabelPair(string Name, string Value);

    private readonly record struct Entry(long TimestampMs, double Value, PromHistogram? Histogram, int Point);

    /// <summary>What does not change between requests for one series.</summary>
    private sealed class CachedSeries(string key, string stateKey, Label[] labels)
    {
        public string Key { get; } = key;

        /// <summary>State scope, separator, <see cref="Key"/>: the series' key in <see cref="SeriesStateStore"/>.</summary>
        public string StateKey { get; } = stateKey;

        public Label[] Labels { get; } = labels;
    }

    private sealed class SeriesBuffer
    {
        public CachedSeries Cached { get; set; } = null!;

        public List<Entry> Entries { get; } = new(1);

        public List<PromExemplar>? Exemplars { get; set; }
    }

    /// <summary>One conversion: the series built so far, by label set.</summary>
    private sealed partial class Run(RemoteWriteConverter owner)
    {
        private readonly Dictionary<string, SeriesBuffer> _series = new(StringComparer.Ordinal);
        private readonly List<SeriesBuffer> _buffers = [];
        private readonly List<SeriesBuffer> _bucketSeries = [];
        private readonly List<int> _points = [];
        private KeyValue[] _sorted = new KeyValue[8];
        private RemoteWriteBatch _batch = null!;
        private string _stateScope = "";
        private int _buffersUsed;
        private string? _suffixBase;
        private string _bucketName = "", _sumName = "", _countName = "";
        private char[] _chars = new char[512];
        private readonly HashSet<string> _families = new(StringComparer.Ordinal);
        private readonly StringBuilder _key = new(256);
        private readonly List<LabelPair> _labels = new(16);
        private int _point;

        private PrometheusRemoteWriteOptions Options => owner._options;

        public void Start(RemoteWriteBatch runBatch, string runStateScope)
        {
            _batch = runBatch;
            _stateScope = runStateScope;
            _series.Clear();
            _families.Clear();
            _buffersUsed = 0;
            _point = 0;
        }

        /// <summary>Sets <see cref="_bucketName"/>, <see cref="_sumName"/>, <see cref="_countName"/> for a family (once per metric, not per point).</summary>
        private void Suffixes(string name)
        {
            if (!ReferenceEquals(name, _suffixBase))
            {
                _suffixBase = name;
                _bucketName = name + "_bucket";
                _sumName = name + "_sum";
                _countName = name + "_count";
            }
        }

        public void Resource(ResourceMetrics rm)
        {
            string? serviceName = null, serviceNamespace = null, instance = null;
            bool hasOther = false;
            var resourceAttributes = rm.Resource?.Attributes ?? [];
            foreach (var kv in resourceAttributes)
            {
                switch (kv.Key)
                {
                    case "service.name": serviceName = AnyValueText.ToText(kv.Value); break;
                    case "service.namespace": serviceNamespace = AnyValueText.ToText(kv.Value); break;
                    case "service.instance.id": instance = AnyValueText.ToText(kv.Value); break;
                    default: hasOther = true; break;
                }
            }

            // job = service.namespace/service.name (or service.name); instance = service.instance.id.
            string? job = serviceName == null ? null
                : string.IsNullOrEmpty(serviceNamespace) ? serviceName
                : serviceNamespace + "/" + serviceName;
            var resourceLabels = new List<LabelPair>(2);
            if (!string.IsNullOrEmpty(job))
            {
                resourceLabels.Add(new("job", job));
            }

            if (!string.IsNullOrEmpty(instance))
            {
                resourceLabels.Add(new("instance", instance));
            }

            long latestMs = 0;
            foreach (var sm in rm.ScopeMetrics)
            {
                var scopeLabels = new List<LabelPair>(resourceLabels.Count + 2);
                if (Options.ScopeLabels && !string.IsNullOrEmpty(sm.Scope?.Name))
                {
                    scopeLabels.Add(new("otel_scope_name", sm.Scope.Name));
                    if (!string.IsNullOrEmpty(sm.Scope.Version))
                    {
                        scopeLabels.Add(new("otel_scope_version", sm.Scope.Version));
                    }
                }

                // The resource's job and instance win over the scope's and the points' labels.
                scopeLabels.AddRange(resourceLabels);
                foreach (var metric in sm.Metrics)
                {
                    latestMs = Math.Max(latestMs, Metric(metric, scopeLabels));
                }
            }

            if (Options.TargetInfo && hasOther && latestMs > 0)
            {
                var labels = BaseLabels(resourceAttributes, resourceLabels, skipServiceIdentity: true);
                Add(labels, "target_info", null, null, latestMs, 1, point: -1);
                Family("target_info", MetricMetadata.Types.MetricType.Gauge, "Target metadata", "");
            }
        }

        /// <summary>Converts one metric; returns its latest sample time (ms).</summary>
        private long Metric(Metric metric, List<LabelPair> extra)
        {
            long latest = metric.DataCase switch
            {
                OpenTelemetry.Proto.Metrics.V1.Metric.DataOneofCase.Gauge => Gauge(metric, extra),
                OpenTelemetry.Proto.Metrics.V1.Metric.DataOneofCase.Sum => Sum(metric, extra),
                OpenTelemetry.Proto.Metrics.V1.Metric.DataOneofCase.Histogram => Histogram(metric, extra),
                OpenTelemetry.Proto.Metrics.V1.Metric.DataOneofCase.ExponentialHistogram => ExponentialHistogram(metric, extra),
                OpenTelemetry.Proto.Metrics.V1.Metric.DataOneofCase.Summary => Summary(metric, extra),
                _ => 0, // a metric without data: nothing to send
            };

            _batch.DataPoints = _point;
            return latest;
        }
    }
}
