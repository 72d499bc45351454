namespace ServerlessOtlp.Performance;

/// <summary>
/// One component's figures on one node, kept so that they merge across nodes: items, operations and
/// errors per 10 s window aligned to the Unix epoch (the last hour), and a latency histogram of the last
/// minute on a fixed log scale (<see cref="LatencyScale"/>). Every node buckets the same way, so a
/// deployment's percentiles come from the sum of the nodes' histograms and its peak from the sum of their
/// windows — never an average of percentiles or a sum of per-node peaks.
/// </summary>
public sealed class ComponentRecorder
{
    /// <summary>Length of a throughput window (the "current" rate is the last complete one).</summary>
    public const int WindowSeconds = 10;

    /// <summary>Windows kept: one hour, what "peak" and "average" cover.</summary>
    public const int Windows = 360;

    /// <summary>Windows the latency histogram and the error rate cover: the last minute.</summary>
    public const int LatencyWindows = 6;

    private readonly TimeProvider _time;
    private readonly object _lock = new();
    private readonly long[] _window = new long[Windows];
    private readonly long[] _items = new long[Windows];
    private readonly long[] _operations = new long[Windows];
    private readonly long[] _errors = new long[Windows];
    private readonly long[] _latencyWindow = new long[LatencyWindows];
    private readonly long[][] _latency = new long[LatencyWindows][];

    public ComponentRecorder(TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        Array.Fill(_window, -1);
        Array.Fill(_latencyWindow, -1);
        for (int i = 0; i < LatencyWindows; i++)
        {
            _latency[i] = new long[LatencyScale.Buckets];
        }
    }

    /// <summary>The aligned window <paramref name="time"/> falls in.</summary>
    public static long WindowOf(DateTimeOffset time) => time.ToUnixTimeSeconds() / WindowSeconds;

    /// <summary>One operation that took <paramref name="elapsed"/> and carried <paramref name="items"/>.</summary>
    public void Record(TimeSpan elapsed, long items, bool ok = true)
    {
        long window = WindowOf(_time.GetUtcNow());
        int bucket = LatencyScale.Index(elapsed.TotalMilliseconds);
        lock (_lock)
        {
            int slot = Slot(window);
            _items[slot] += Math.Max(0, items);
            _operations[slot]++;
            if (!ok)
            {
                _errors[slot]++;
            }

            int latencySlot = (int)(window % LatencyWindows);
            if (_latencyWindow[latencySlot] != window)
            {
                _latencyWindow[latencySlot] = window;
                Array.Clear(_latency[latencySlot]);
            }

            _latency[latencySlot][bucket]++;
        }
    }

    /// <summary>Items that passed without an operation of their own (counted, not timed).</summary>
    public void AddItems(long items)
    {
        long window = WindowOf(_time.GetUtcNow());
        lock (_lock)
        {
            _items[Slot(window)] += Math.Max(0, items);
        }
    }

    /// <summary>Marks an operation already recorded (or about to be) as failed: a request the gateway refused.</summary>
    public void CountError()
    {
        long window = WindowOf(_time.GetUtcNow());
        lock (_lock)
        {
            _errors[Slot(window)]++;
        }
    }

    /// <summary>What a heartbeat carries; null when nothing happened in the last hour.</summary>
    public ComponentSnapshot? Snapshot()
    {
        long now = WindowOf(_time.GetUtcNow());
        var items = new long[Windows];
        long operations = 0, errors = 0;
        var latency = new long[LatencyScale.Buckets];
        bool any = false;
        lock (_lock)
        {
            for (int age = 0; age < Windows; age++)
            {
                int slot = (int)((now - age) % Windows);
                if (_window[slot] != now - age)
                {
                    continue;
                }

                items[age] = _items[slot];
                any |= _operations[slot] > 0 || _items[slot] > 0;
                if (age < LatencyWindows)
                {
                    operations += _operations[slot];
                    errors += _errors[slot];
                }
            }

            for (int age = 0; age < LatencyWindows; age++)
            {
                int slot = (int)((now - age) % LatencyWindows);
                if (_latencyWindow[slot] == now - age)
                {
                    for (int b = 0; b < latency.Length; b++)
                    {
                        latency[b] += _latency[slot][b];
                    }
                }
            }
        }

        return any ? new ComponentSnapshot(now, Trim(items), operations, errors, Trim(latency)) : null;
    }

    private int Slot(long window)
    {
        int slot = (int)(window % Windows);
        if (_window[slot] != window)
        {
            _window[slot] = window;
            _items[slot] = 0;
            _operations[slot] = 0;
            _errors[slot] = 0;
        }

        return slot;
    }

    private static long[] Trim(long[] values)
    {
        int length = values.Length;
        while (length > 0 && values[length - 1] == 0)
        {
            length--;
        }

        return values[..length];
    }
}

/// <summary>
/// One component on one node, as its heartbeat row stores it. <see cref="Items"/>[age] counts the window
/// <see cref="Window"/> − age (0 = the window the snapshot was taken in, partly elapsed); <see cref="Latency"/>
/// and <see cref="Operations"/>/<see cref="Errors"/> cover the last <see cref="ComponentRecorder.LatencyWindows"/>
/// windows. Trailing zeros are trimmed.
/// </summary>
public sealed record ComponentSnapshot(long Window, long[] Items, long Operations, long Errors, long[] Latency);

/// <summary>
/// Latency buckets on a log scale, four per octave from 0.05 ms (each bucket's width is 19 % of its value, so a
/// percentile read at a bucket's geometric middle is within ±9 %); the first bucket takes everything faster, the
/// last (≈ 200 s) everything slower. Fixed, so that every node's histograms add up.
/// </summary>
internal static class LatencyScale
{
    public const double BaseMilliseconds = 0.05;

    public const int PerOctave = 4;

    public const int Buckets = 88;

    public static int Index(double milliseconds) =>
        milliseconds > BaseMilliseconds
            ? Math.Min(Buckets - 1, (int)(Math.Log2(milliseconds / BaseMilliseconds) * PerOctave))
            : 0;

    /// <summary>The value a percentile that falls in bucket <paramref name="index"/> reports: its geometric middle.</summary>
    public static double Representative(int index) => BaseMilliseconds * Math.Pow(2, (index + 0.5) / PerOctave);
}
