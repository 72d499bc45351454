using System.Collections.Concurrent;
using System.Text;
using Google.Protobuf.Collections;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Metrics.V1;
using ServerlessOtlp.Export.PrometheusRemoteWrite.Prompb;
using PromExemplar = ServerlessOtlp.Export.PrometheusRemoteWrite.Prompb.Exemplar;
using PromHistogram = ServerlessOtlp.Export.PrometheusRemoteWrite.Prompb.Histogram;

namespace ServerlessOtlp.Export.PrometheusRemoteWrite;

/// <summary>How OTLP metrics become Prometheus series.</summary>
public sealed record PrometheusRemoteWriteOptions
{
    /// <summary>Prometheus's remote-write client default (<c>queue_config.max_samples_per_send</c>).</summary>
    public const int DefaultMaxSamplesPerRequest = 2000;

    /// <summary>
    /// Exponential histograms as Prometheus native histograms (Prometheus needs
    /// <c>--enable-feature=native-histograms</c>) instead of explicit <c>_bucket{le}</c> series.
    /// </summary>
    public bool NativeHistograms { get; init; }

    /// <summary>Send a <c>MetricMetadata</c> (type, help, unit) per metric family.</summary>
    public bool SendMetadata { get; init; } = true;

    /// <summary>Send each resource's other attributes as a <c>target_info</c> series.</summary>
    public bool TargetInfo { get; init; } = true;

    /// <summary>Add <c>otel_scope_name</c> / <c>otel_scope_version</c> labels.</summary>
    public bool ScopeLabels { get; init; } = true;

    public int MaxSamplesPerRequest { get; init; } = DefaultMaxSamplesPerRequest;
}

/// <summary>One Prometheus series of a batch and the data points (indexes in the request) its samples came from.</summary>
internal readonly record struct ConvertedSeries(TimeSeries Series, int[] Points, int Samples);

/// <summary>A request converted for remote write; its state changes wait in <see cref="State"/> until sent.</summary>
internal sealed class RemoteWriteBatch
{
    public List<ConvertedSeries> Series { get; } = [];

    public List<MetricMetadata> Metadata { get; } = [];

    /// <summary>Points dropped before sending: replays (older than what the series already has) and invalid points.</summary>
    public HashSet<int> DroppedPoints { get; } = [];

    public int DataPoints { get; set; }

    public int Samples { get; set; }

    public required SeriesStateTransaction State { get; init; }
}

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

        /// <summary>
        /// The point's labels, sorted by name: attributes sanitized (values of names that collide
        /// after sanitization joined with <c>;</c> in key order), then <paramref name="extra"/>
        /// (scope labels, job, instance) overriding them.
        /// </summary>
        /// <summary>A data point's number (for dropped-point bookkeeping), timestamp and labels; moves <paramref name="latest"/>.</summary>
        private ReadOnlySpan<LabelPair> Point(ulong timeUnixNano, RepeatedField<KeyValue> attributes, List<LabelPair> extra, ref long latest, out int point, out long ts)
        {
            point = _point++;
            ts = Timestamp(timeUnixNano);
            latest = Math.Max(latest, ts);
            return BaseLabels(attributes, extra, false);
        }

        private ReadOnlySpan<LabelPair> BaseLabels(RepeatedField<KeyValue> attributes, List<LabelPair> extra, bool skipServiceIdentity)
        {
            _labels.Clear();
            KeyValue[]? sorted = null;
            if (attributes.Count > 1)
            {
                if (_sorted.Length < attributes.Count)
                {
                    _sorted = new KeyValue[Math.Max(_sorted.Length * 2, attributes.Count)];
                }

                attributes.CopyTo(_sorted, 0);
                sorted = _sorted;
                Array.Sort(sorted, 0, attributes.Count, AttributeOrder.Instance);
            }

            for (int i = 0; i < attributes.Count; i++)
            {
                var kv = sorted != null ? sorted[i] : attributes[i];
                if (skipServiceIdentity && kv.Key is "service.name" or "service.namespace" or "service.instance.id")
                {
                    continue;
                }

                string name = PrometheusNaming.LabelName(kv.Key);
                string value = AnyValueText.ToText(kv.Value);
                if (name.Length == 0 || value.Length == 0)
                {
                    continue; // Prometheus treats an empty value as an absent label.
                }

                int at = Find(name);
                if (at >= 0)
                {
                    _labels[at] = new(name, _labels[at].Value + ";" + value);
                }
                else
                {
                    _labels.Add(new(name, value));
                }
            }

            foreach (var label in extra)
            {
                int at = Find(label.Name);
                if (at >= 0)
                {
                    _labels[at] = label;
                }
                else
                {
                    _labels.Add(label);
                }
            }

            // Sorted in place: the span is read only until the next point's labels are built.
            var result = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_labels);
            result.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
            return result;
        }

        private int Find(string name)
        {
            for (int i = 0; i < _labels.Count; i++)
            {
                if (_labels[i].Name == name)
                {
                    return i;
                }
            }

            return -1;
        }

        private SeriesBuffer Add(ReadOnlySpan<LabelPair> baseLabels, string name, string? extraName, string? extraValue, long ts, double value, int point, PromHistogram? histogram = null)
        {
            // The key, "scope\xff" + "name\xff[extra\xffvalue\xff](label\xffvalue\xff)*", built in a reused buffer:
            // a string is made only for a series neither this request nor the cache has seen.
            int length = 0;
            Append(ref length, _stateScope);
            Append(ref length, KeySeparator);
            int keyStart = length;
            Append(ref length, name);
            Append(ref length, KeySeparator);
            if (extraName != null)
            {
                Append(ref length, extraName);
                Append(ref length, KeySeparator);
                Append(ref length, extraValue!);
                Append(ref length, KeySeparator);
            }

            foreach (var l in baseLabels)
            {
                Append(ref length, l.Name);
                Append(ref length, KeySeparator);
                Append(ref length, l.Value);
                Append(ref length, KeySeparator);
            }

            var stateKey = _chars.AsSpan(0, length);
            var key = stateKey[keyStart..];
            var inRun = _series.GetAlternateLookup<ReadOnlySpan<char>>();
            if (!inRun.TryGetValue(key, out var series))
            {
                var cache = owner._seriesCache.GetAlternateLookup<ReadOnlySpan<char>>();
                if (!cache.TryGetValue(stateKey, out var cached))
                {
                    string stateKeyText = new(stateKey);
                    var labels = Merge(baseLabels, name, extraName, extraValue);
                    var proto = new Label[labels.Length];
                    for (int i = 0; i < labels.Length; i++)
                    {
                        proto[i] = new Label { Name = labels[i].Name, Value = labels[i].Value };
                    }

                    cached = new CachedSeries(stateKeyText[keyStart..], stateKeyText, proto);
                    if (Interlocked.Increment(ref owner._cachedSeries) > MaxCachedSeries)
                    {
                        owner._seriesCache.Clear();
                        Interlocked.Exchange(ref owner._cachedSeries, 0);
                    }

                    owner._seriesCache[stateKeyText] = cached;
                }

                series = NextBuffer(cached);
                _series.Add(cached.Key, series);
            }

            series.Entries.Add(new Entry(ts, value, histogram, point));
            return series;
        }

        private SeriesBuffer NextBuffer(CachedSeries cached)
        {
            SeriesBuffer buffer;
            if (_buffersUsed < _buffers.Count)
            {
                buffer = _buffers[_buffersUsed];
                buffer.Entries.Clear();
                buffer.Exemplars = null;
            }
            else
            {
                buffer = new SeriesBuffer();
                _buffers.Add(buffer);
            }

            _buffersUsed++;
            buffer.Cached = cached;
            return buffer;
        }

        private void Append(ref int length, string text)
        {
            if (length + text.Length > _chars.Length)
            {
                Array.Resize(ref _chars, Math.Max(_chars.Length * 2, length + text.Length));
            }

            text.CopyTo(_chars.AsSpan(length));
            length += text.Length;
        }

        private void Append(ref int length, char c)
        {
            if (length == _chars.Length)
            {
                Array.Resize(ref _chars, _chars.Length * 2);
            }

            _chars[length++] = c;
        }

        /// <summary>A bucket bound as text (bounds repeat across points and requests).</summary>
        private string Bound(double bound)
        {
            long bits = BitConverter.DoubleToInt64Bits(bound);
            if (owner._boundText.TryGetValue(bits, out var text))
            {
                return text;
            }

            text = PrometheusNaming.FormatFloat(bound);
            if (owner._boundText.Count < MaxCachedBounds)
            {
                owner._boundText.TryAdd(bits, text);
            }

            return text;
        }

        // Inserts __name__ and le/quantile into the sorted base labels (they win over attributes of the same name).
        private static LabelPair[] Merge(ReadOnlySpan<LabelPair> baseLabels, string name, string? extraName, string? extraValue)
        {
            var result = new List<LabelPair>(baseLabels.Length + 2) { new(MetricNameLabel, name) };
            if (extraName != null)
            {
                result.Add(new(extraName, extraValue!));
            }

            foreach (var l in baseLabels)
            {
                if (l.Name != MetricNameLabel && l.Name != extraName)
                {
                    result.Add(l);
                }
            }

            var array = result.ToArray();
            Array.Sort(array, static (a, b) => string.CompareOrdinal(a.Name, b.Name));
            return array;
        }

        private void AddExemplars(SeriesBuffer series, IEnumerable<OpenTelemetry.Proto.Metrics.V1.Exemplar> exemplars)
        {
            foreach (var e in exemplars)
            {
                // Without a trace there is nothing to link to; Prometheus caps exemplar labels at 128 runes, ids fit.
                if (e.TraceId.Length != 16)
                {
                    continue;
                }

                var exemplar = new PromExemplar { Value = ExemplarValue(e), Timestamp = Timestamp(e.TimeUnixNano) };
                exemplar.Labels.Add(new Label { Name = "trace_id", Value = System.Convert.ToHexStringLower(e.TraceId.Span) });
                if (e.SpanId.Length == 8)
                {
                    exemplar.Labels.Add(new Label { Name = "span_id", Value = System.Convert.ToHexStringLower(e.SpanId.Span) });
                }

                (series.Exemplars ??= []).Add(exemplar);
            }
        }

        private void Family(string name, MetricMetadata.Types.MetricType type, string help, string unit)
        {
            if (Options.SendMetadata && _families.Add(name))
            {
                _batch.Metadata.Add(new MetricMetadata { MetricFamilyName = name, Type = type, Help = help, Unit = PrometheusNaming.UnitName(unit) });
            }
        }

        private string AccumulatorKey(string name, ReadOnlySpan<LabelPair> labels)
        {
            _key.Clear();
            _key.Append(_stateScope).Append(KeySeparator).Append('Δ').Append(name).Append(KeySeparator);
            foreach (var l in labels)
            {
                _key.Append(l.Name).Append(KeySeparator).Append(l.Value).Append(KeySeparator);
            }

            return _key.ToString();
        }

        /// <summary>
        /// Orders each series' samples by time (a later duplicate time wins), drops those not newer
        /// than what the series already has, and records each series' newest time in the state.
        /// </summary>
        public void Finish()
        {
            _batch.DataPoints = _point;
            _batch.Series.Capacity = Math.Max(_batch.Series.Capacity, _series.Count);
            _batch.State.EnsureTimestampCapacity(_series.Count);
            var points = _points;
            foreach (var series in _series.Values)
            {
                var entries = series.Entries;
                if (entries.Count > 1)
                {
                    // Stable by time: the later of two equal times is the newer value.
                    var ordered = entries.Select((e, i) => (e, i)).OrderBy(x => x.e.TimestampMs).ThenBy(x => x.i).Select(x => x.e).ToList();
                    entries.Clear();
                    entries.AddRange(ordered);
                }

                string stateKey = series.Cached.StateKey;
                long last = _batch.State.LastTimestamp(stateKey) ?? long.MinValue;
                var ts = new TimeSeries();
                points.Clear();
                for (int i = 0; i < entries.Count; i++)
                {
                    var e = entries[i];
                    if (e.TimestampMs <= last || (i + 1 < entries.Count && entries[i + 1].TimestampMs == e.TimestampMs))
                    {
                        if (e.Point >= 0)
                        {
                            _batch.DroppedPoints.Add(e.Point);
                        }

                        continue;
                    }

                    if (e.Histogram != null)
                    {
                        ts.Histograms.Add(e.Histogram);
                    }
                    else
                    {
                        ts.Samples.Add(new Sample { Timestamp = e.TimestampMs, Value = e.Value });
                    }

                    if (e.Point >= 0)
                    {
                        points.Add(e.Point);
                    }

                    last = e.TimestampMs;
                }

                int samples = ts.Samples.Count + ts.Histograms.Count;
                if (samples == 0)
                {
                    continue;
                }

                ts.Labels.Add(series.Cached.Labels);

                if (series.Exemplars != null)
                {
                    ts.Exemplars.AddRange(series.Exemplars);
                }

                _batch.State.SetLastTimestamp(stateKey, last);
                _batch.Series.Add(new ConvertedSeries(ts, points.Count == 1 ? [points[0]] : [.. points.Distinct()], samples));
                _batch.Samples += samples;
            }

            // A point is dropped only if none of its samples is sent.
            foreach (var s in _batch.Series)
            {
                foreach (int p in s.Points)
                {
                    _batch.DroppedPoints.Remove(p);
                }
            }
        }

        private long Timestamp(ulong timeUnixNano) =>
            timeUnixNano == 0 ? owner._time.GetUtcNow().ToUnixTimeMilliseconds() : (long)(timeUnixNano / 1_000_000);

        private static bool IsNoRecordedValue(uint flags) => (flags & (uint)DataPointFlags.NoRecordedValueMask) != 0;

        private static double Value(NumberDataPoint p) =>
            IsNoRecordedValue(p.Flags) ? StaleNaN
            : p.ValueCase == NumberDataPoint.ValueOneofCase.AsInt ? p.AsInt
            : p.AsDouble;

        private static double ExemplarValue(OpenTelemetry.Proto.Metrics.V1.Exemplar e) =>
            e.ValueCase == OpenTelemetry.Proto.Metrics.V1.Exemplar.ValueOneofCase.AsInt ? e.AsInt : e.AsDouble;
    }

    private sealed class AttributeOrder : IComparer<KeyValue>
    {
        public static readonly AttributeOrder Instance = new();

        public int Compare(KeyValue? x, KeyValue? y) => string.CompareOrdinal(x!.Key, y!.Key);
    }
}
