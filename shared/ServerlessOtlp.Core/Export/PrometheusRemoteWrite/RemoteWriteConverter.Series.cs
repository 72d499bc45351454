using OpenTelemetry.Proto.Metrics.V1;
using ServerlessOtlp.Export.PrometheusRemoteWrite.Prompb;
using PromExemplar = ServerlessOtlp.Export.PrometheusRemoteWrite.Prompb.Exemplar;
using PromHistogram = ServerlessOtlp.Export.PrometheusRemoteWrite.Prompb.Histogram;

namespace ServerlessOtlp.Export.PrometheusRemoteWrite;

// The run's series table: samples added by label set, then ordered and made TimeSeries (contrib's helper.go addSample and friends).
internal sealed partial class RemoteWriteConverter
{
    private sealed partial class Run
    {
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
}
