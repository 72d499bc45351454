namespace ServerlessOtlp.Performance;

/// <summary>One component across the deployment: what <c>otlpctl status</c> shows under <c>components</c>.</summary>
/// <param name="P50Ms">Latency percentiles of the last minute, in milliseconds (0 without operations).</param>
/// <param name="Current">Items per second in the last complete 10 s window.</param>
/// <param name="Average">Items per second over the last hour, or since the oldest live node started.</param>
/// <param name="Peak">Items per second in the busiest 10 s window of the last hour (of the deployment's sum).</param>
/// <param name="ErrorRate">Failed operations ÷ operations in the last minute.</param>
public sealed record ComponentFigures(
    double P50Ms,
    double P95Ms,
    double P99Ms,
    double Current,
    double Average,
    double Peak,
    double ErrorRate,
    long Operations)
{
    public static ComponentFigures Idle { get; } = new(0, 0, 0, 0, 0, 0, 0, 0);
}

/// <summary>
/// Merges the live nodes' heartbeat snapshots: histograms are added bucket by bucket before percentiles are read,
/// and windows are added by their aligned number before the peak is taken.
/// </summary>
public static class DeploymentPerformance
{
    /// <summary>One node's contribution: its snapshots and when it started (bounds the average's span).</summary>
    public sealed record NodeSample(IReadOnlyDictionary<string, ComponentSnapshot> Components, DateTimeOffset? StartedAt);

    /// <summary>
    /// The live nodes (alive or suspect; a node marked dead or stopped no longer counts) merged at the storage
    /// service's "now" (from the rows' ages), not the reader's clock.
    /// </summary>
    public static IReadOnlyDictionary<string, ComponentFigures> MergeLive(IReadOnlyList<Storage.NodeInfo> nodes) =>
        Merge(
            nodes.Where(n => n.Status is Storage.NodeStatus.Alive or Storage.NodeStatus.Suspect)
                .Select(n => new NodeSample(n.Performance, n.StartedAt)),
            nodes.Count == 0 ? DateTimeOffset.UtcNow : nodes.Max(n => n.LastSeen + n.Age));

    /// <summary>Every component of <see cref="PerformanceComponents.All"/>, idle ones as zeros.</summary>
    public static IReadOnlyDictionary<string, ComponentFigures> Merge(IEnumerable<NodeSample> nodes, DateTimeOffset now)
    {
        var list = nodes.ToList();
        var result = new Dictionary<string, ComponentFigures>(StringComparer.Ordinal);
        foreach (var component in PerformanceComponents.All)
        {
            var samples = list
                .Where(n => n.Components.ContainsKey(component))
                .Select(n => (Snapshot: n.Components[component], n.StartedAt))
                .ToList();
            result[component] = samples.Count == 0 ? ComponentFigures.Idle : MergeOne(samples, now);
        }

        return result;
    }

    private static ComponentFigures MergeOne(List<(ComponentSnapshot Snapshot, DateTimeOffset? StartedAt)> samples, DateTimeOffset now)
    {
        long nowWindow = ComponentRecorder.WindowOf(now);
        long oldest = nowWindow - ComponentRecorder.Windows; // exclusive
        var windows = new long[ComponentRecorder.Windows]; // index: nowWindow − window
        var latency = new long[LatencyScale.Buckets];
        long operations = 0, errors = 0;
        long firstWindow = nowWindow;
        foreach (var (s, startedAt) in samples)
        {
            // A row is written by our nodes, but a damaged or foreign one must not break the view: bound every array.
            for (int age = 0; age < Math.Min(s.Items.Length, ComponentRecorder.Windows); age++)
            {
                long window = s.Window - age;
                if (window > oldest && window <= nowWindow && s.Items[age] > 0)
                {
                    windows[nowWindow - window] += s.Items[age];
                }
            }

            for (int b = 0; b < Math.Min(s.Latency.Length, LatencyScale.Buckets); b++)
            {
                latency[b] += Math.Max(0, s.Latency[b]);
            }

            operations += Math.Max(0, s.Operations);
            errors += Math.Max(0, s.Errors);
            long started = startedAt is { } t ? ComponentRecorder.WindowOf(t) : oldest + 1;
            firstWindow = Math.Min(firstWindow, Math.Max(started, oldest + 1));
        }

        // Complete windows only (index ≥ 1): the current one is still filling.
        long peak = 0, total = 0;
        for (int i = 1; i < windows.Length; i++)
        {
            peak = Math.Max(peak, windows[i]);
            total += windows[i];
        }

        long completeWindows = Math.Max(1, nowWindow - firstWindow);
        double seconds = completeWindows * (double)ComponentRecorder.WindowSeconds;
        return new ComponentFigures(
            Percentile(latency, 0.50),
            Percentile(latency, 0.95),
            Percentile(latency, 0.99),
            windows[1] / (double)ComponentRecorder.WindowSeconds,
            total / seconds,
            peak / (double)ComponentRecorder.WindowSeconds,
            operations == 0 ? 0 : Math.Min(1, errors / (double)operations),
            operations);
    }

    /// <summary>The bucket holding the q-th of all observations, read at its middle; 0 for none.</summary>
    public static double Percentile(long[] buckets, double q)
    {
        long count = 0;
        foreach (long c in buckets)
        {
            count += c;
        }

        if (count == 0)
        {
            return 0;
        }

        long rank = Math.Max(1, (long)Math.Ceiling(q * count));
        long seen = 0;
        for (int b = 0; b < buckets.Length; b++)
        {
            seen += buckets[b];
            if (seen >= rank)
            {
                return LatencyScale.Representative(b);
            }
        }

        return LatencyScale.Representative(buckets.Length - 1);
    }
}
