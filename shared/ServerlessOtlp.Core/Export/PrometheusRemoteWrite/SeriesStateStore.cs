using System.Collections.Concurrent;
using System.Text.Json;

namespace ServerlessOtlp.Export.PrometheusRemoteWrite;

/// <summary>
/// A delta series' running total, so a delta sum or histogram reaches Prometheus as the
/// cumulative series it expects (the Collector's exporter drops deltas instead).
/// </summary>
internal sealed class DeltaAccumulator
{
    /// <summary>The end time of the last delta added; a delta ending at or before it is a replay.</summary>
    public ulong LastTimeUnixNano { get; set; }

    public double Value { get; set; }

    public double Sum { get; set; }

    public ulong Count { get; set; }

    /// <summary>Explicit bounds of an accumulated histogram; a change of bounds restarts the series.</summary>
    public double[]? Bounds { get; set; }

    public ulong[]? BucketCounts { get; set; }

    /// <summary>An accumulated exponential histogram (merged at the coarser scale of the two).</summary>
    public int Scale { get; set; }

    public ulong ZeroCount { get; set; }

    public double ZeroThreshold { get; set; }

    public ExponentialBuckets? Positive { get; set; }

    public ExponentialBuckets? Negative { get; set; }

    public DeltaAccumulator Clone() => new()
    {
        LastTimeUnixNano = LastTimeUnixNano,
        Value = Value,
        Sum = Sum,
        Count = Count,
        Bounds = Bounds,
        BucketCounts = (ulong[]?)BucketCounts?.Clone(),
        Scale = Scale,
        ZeroCount = ZeroCount,
        ZeroThreshold = ZeroThreshold,
        Positive = Positive?.Clone(),
        Negative = Negative?.Clone(),
    };
}

/// <summary>Consecutive exponential-histogram buckets starting at bucket index <see cref="Offset"/>.</summary>
internal sealed class ExponentialBuckets
{
    public int Offset { get; set; }

    public ulong[] Counts { get; set; } = [];

    public ExponentialBuckets Clone() => new() { Offset = Offset, Counts = (ulong[])Counts.Clone() };

    /// <summary>Merges each 2^<paramref name="by"/> neighbours into one bucket (scale − by).</summary>
    public static (int Offset, ulong[] Counts) Downscale(int offset, IReadOnlyList<ulong> counts, int by)
    {
        if (by <= 0 || counts.Count == 0)
        {
            return (offset, counts as ulong[] ?? [.. counts]);
        }

        int first = offset >> by;
        int last = (int)(((long)offset + counts.Count - 1) >> by);
        var merged = new ulong[last - first + 1];
        for (int i = 0; i < counts.Count; i++)
        {
            merged[((offset + i) >> by) - first] += counts[i];
        }

        return (first, merged);
    }

    /// <summary>Adds buckets at the same scale.</summary>
    public static (int Offset, ulong[] Counts) Add(int offsetA, ulong[] a, int offsetB, ulong[] b)
    {
        if (a.Length == 0)
        {
            return (offsetB, b);
        }

        if (b.Length == 0)
        {
            return (offsetA, a);
        }

        long first = Math.Min(offsetA, offsetB);
        long last = Math.Max((long)offsetA + a.Length, (long)offsetB + b.Length);
        if (last - first > ExponentialView.MaxAccumulatedBuckets * 4L)
        {
            // Callers downscale first (ExponentialView.Accumulate); reaching this would allocate by the indexes' spread.
            throw new InvalidOperationException($"exponential buckets {first}..{last} span more than {ExponentialView.MaxAccumulatedBuckets * 4}");
        }

        var sum = new ulong[last - first];
        for (int i = 0; i < a.Length; i++)
        {
            sum[offsetA - first + i] += a[i];
        }

        for (int i = 0; i < b.Length; i++)
        {
            sum[offsetB - first + i] += b[i];
        }

        return ((int)first, sum);
    }
}

/// <summary>
/// Per-series state of one partition in one exporter, keyed by tenant, destination and series: the
/// last sample time sent (so a replay is filtered before Prometheus refuses it as out of order) and
/// delta accumulators. Changes are made in a <see cref="SeriesStateTransaction"/> and committed only
/// when Prometheus took the batch, so a retried batch is neither double-counted nor filtered out.
/// </summary>
internal sealed class SeriesStateStore
{
    /// <summary>
    /// Series kept before the least recently written are forgotten: ~200 bytes each, so about
    /// 200 MB at the limit. A forgotten delta series restarts from zero (a counter reset to Prometheus).
    /// </summary>
    public const int DefaultMaxSeries = 1_000_000;

    private readonly ConcurrentDictionary<string, long> _lastTimestampMs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DeltaAccumulator> _accumulators = new(StringComparer.Ordinal);
    private readonly object _commitLock = new();
    private readonly int _maxSeries;
    private long _accumulatorVersion;

    public SeriesStateStore(int maxSeries = DefaultMaxSeries) => _maxSeries = maxSeries;

    public int SeriesCount => _lastTimestampMs.Count;

    /// <summary>
    /// Moves with every committed change of a delta accumulator: the state whose loss would corrupt
    /// a series. Last sample times alone do not move it (losing them only lets Prometheus refuse a replay).
    /// </summary>
    public long AccumulatorVersion => Interlocked.Read(ref _accumulatorVersion);

    public int AccumulatorCount => _accumulators.Count;

    public SeriesStateTransaction Begin() => new(this);

    internal bool TryGetLastTimestamp(string key, out long timestampMs) => _lastTimestampMs.TryGetValue(key, out timestampMs);

    internal DeltaAccumulator? GetAccumulator(string key) => _accumulators.TryGetValue(key, out var a) ? a : null;

    internal void Commit(Dictionary<string, long> timestamps, Dictionary<string, DeltaAccumulator> accumulators)
    {
        lock (_commitLock)
        {
            foreach (var (key, ts) in timestamps)
            {
                _lastTimestampMs.AddOrUpdate(key, ts, (_, old) => Math.Max(old, ts));
            }

            foreach (var (key, acc) in accumulators)
            {
                _accumulators[key] = acc;
            }

            if (accumulators.Count > 0)
            {
                Interlocked.Increment(ref _accumulatorVersion);
            }

            if (_lastTimestampMs.Count > _maxSeries)
            {
                Evict(_lastTimestampMs, _lastTimestampMs.Count - (_maxSeries * 9 / 10), kv => kv.Value);
            }

            if (_accumulators.Count > _maxSeries)
            {
                Evict(_accumulators, _accumulators.Count - (_maxSeries * 9 / 10), kv => (long)(kv.Value.LastTimeUnixNano / 1_000_000));
            }
        }
    }

    /// <summary>The whole state as JSON, to be stored beside a checkpoint; null when there is none.</summary>
    public string? Snapshot()
    {
        if (_lastTimestampMs.IsEmpty && _accumulators.IsEmpty)
        {
            return null;
        }

        var snapshot = new StateSnapshot
        {
            Version = 1,
            LastTimestampMs = new Dictionary<string, long>(_lastTimestampMs, StringComparer.Ordinal),
            Accumulators = new Dictionary<string, DeltaAccumulator>(_accumulators, StringComparer.Ordinal),
        };
        return JsonSerializer.Serialize(snapshot, SeriesStateJsonContext.Default.StateSnapshot);
    }

    /// <summary>Merges a snapshot in (newer timestamps win; restored accumulators replace ours).</summary>
    public void Restore(string snapshotJson)
    {
        var snapshot = JsonSerializer.Deserialize(snapshotJson, SeriesStateJsonContext.Default.StateSnapshot)
            ?? throw new FormatException("empty remote-write state snapshot");
        if (snapshot.Version != 1)
        {
            throw new FormatException($"remote-write state snapshot version {snapshot.Version} is not supported");
        }

        Commit(snapshot.LastTimestampMs ?? [], snapshot.Accumulators ?? []);
    }

    private static void Evict<T>(ConcurrentDictionary<string, T> map, int count, Func<KeyValuePair<string, T>, long> age)
    {
        foreach (var kv in map.OrderBy(age).Take(count).ToList())
        {
            map.TryRemove(kv.Key, out _);
        }
    }

    internal sealed class StateSnapshot
    {
        public int Version { get; set; }

        public Dictionary<string, long>? LastTimestampMs { get; set; }

        public Dictionary<string, DeltaAccumulator>? Accumulators { get; set; }
    }
}

/// <summary>Reads through to the store, buffers writes until <see cref="Commit"/>.</summary>
internal sealed class SeriesStateTransaction
{
    private readonly SeriesStateStore _store;
    private readonly Dictionary<string, long> _timestamps = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DeltaAccumulator> _accumulators = new(StringComparer.Ordinal);

    internal SeriesStateTransaction(SeriesStateStore store) => _store = store;

    public long? LastTimestamp(string seriesKey) =>
        _timestamps.TryGetValue(seriesKey, out long ts) ? ts
        : _store.TryGetLastTimestamp(seriesKey, out ts) ? ts
        : null;

    public void SetLastTimestamp(string seriesKey, long timestampMs) => _timestamps[seriesKey] = timestampMs;

    /// <summary>Sizes the pending timestamps for a request's series at once (no rehash per growth step).</summary>
    public void EnsureTimestampCapacity(int series) => _timestamps.EnsureCapacity(_timestamps.Count + series);

    /// <summary>The accumulator to update in place: a private copy of the committed one, or a new one.</summary>
    public DeltaAccumulator Accumulator(string key, out bool existed)
    {
        if (_accumulators.TryGetValue(key, out var pending))
        {
            existed = true;
            return pending;
        }

        var committed = _store.GetAccumulator(key);
        existed = committed != null;
        var copy = committed?.Clone() ?? new DeltaAccumulator();
        _accumulators[key] = copy;
        return copy;
    }

    public void Commit() => _store.Commit(_timestamps, _accumulators);
}
