using Google.Protobuf.Collections;
using OpenTelemetry.Proto.Common.V1;

namespace ServerlessOtlp.Export.PrometheusRemoteWrite;

// A point's labels and the keys built from them (as contrib's translator/prometheusremotewrite helper.go).
internal sealed partial class RemoteWriteConverter
{
    private sealed partial class Run
    {
        /// <summary>A data point's number (for dropped-point bookkeeping), timestamp and labels; moves <paramref name="latest"/>.</summary>
        private ReadOnlySpan<LabelPair> Point(ulong timeUnixNano, RepeatedField<KeyValue> attributes, List<LabelPair> extra, ref long latest, out int point, out long ts)
        {
            point = _point++;
            ts = Timestamp(timeUnixNano);
            latest = Math.Max(latest, ts);
            return BaseLabels(attributes, extra, false);
        }

        /// <summary>
        /// The point's labels, sorted by name: attributes sanitized (values of names that collide
        /// after sanitization joined with <c>;</c> in key order), then <paramref name="extra"/>
        /// (scope labels, job, instance) overriding them.
        /// </summary>
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
    }

    private sealed class AttributeOrder : IComparer<KeyValue>
    {
        public static readonly AttributeOrder Instance = new();

        public int Compare(KeyValue? x, KeyValue? y) => string.CompareOrdinal(x!.Key, y!.Key);
    }
}
