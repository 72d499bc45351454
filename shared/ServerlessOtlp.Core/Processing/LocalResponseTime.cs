namespace ServerlessOtlp.Processing;

/// <summary>
/// The average duration of a node's local work over the last 30 s (six 5-second slots), for the failure
/// detector: decode, sampling and transforms per event for a drain — never a destination's export, which is
/// that destination's health and its breaker's business (one slow backend must not make every runner
/// suspect in turn). A node that stops working sees its slots age out: its average becomes unknown, and it
/// is no longer slow.
/// </summary>
public sealed class LocalResponseTime
{
    private const int Slots = 6;
    private static readonly TimeSpan SlotLength = TimeSpan.FromSeconds(5);

    private readonly TimeProvider _time;
    private readonly long _slotTicks;
    private readonly object _lock = new();
    private readonly long[] _slot = new long[Slots];
    private readonly long[] _ticks = new long[Slots];
    private readonly long[] _count = new long[Slots];

    public LocalResponseTime(TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _slotTicks = (long)(SlotLength.TotalSeconds * _time.TimestampFrequency);
        Array.Fill(_slot, -1);
    }

    /// <summary>How much history the average covers.</summary>
    public static TimeSpan Window => SlotLength * Slots;

    /// <summary>Time stamp for <see cref="Record(long)"/>.</summary>
    public long Start() => _time.GetTimestamp();

    /// <summary>Records the work begun at <paramref name="started"/> (from <see cref="Start"/>) as ending now.</summary>
    public void Record(long started)
    {
        long now = _time.GetTimestamp();
        Add(now, Math.Max(0, now - started));
    }

    public void Record(TimeSpan elapsed) =>
        Add(_time.GetTimestamp(), (long)(elapsed.TotalSeconds * _time.TimestampFrequency));

    /// <summary>The average over the window; null when nothing was recorded in it.</summary>
    public TimeSpan? Average
    {
        get
        {
            long current = _time.GetTimestamp() / _slotTicks;
            long ticks = 0, count = 0;
            lock (_lock)
            {
                for (int i = 0; i < Slots; i++)
                {
                    if (_slot[i] > current - Slots)
                    {
                        ticks += _ticks[i];
                        count += _count[i];
                    }
                }
            }

            return count == 0 ? null : TimeSpan.FromSeconds(ticks / (double)count / _time.TimestampFrequency);
        }
    }

    /// <summary>The average in whole microseconds, 0 when unknown (the heartbeat counter <c>avgResponseMicros</c>).</summary>
    public long AverageMicroseconds => Average is { } average ? (long)average.TotalMicroseconds : 0;

    /// <summary>True when the average exceeds <paramref name="timeout"/>.</summary>
    public bool Exceeds(TimeSpan timeout) => Average is { } average && average > timeout;

    private void Add(long now, long elapsedTicks)
    {
        long slot = now / _slotTicks;
        int i = (int)(slot % Slots);
        lock (_lock)
        {
            if (_slot[i] != slot)
            {
                _slot[i] = slot;
                _ticks[i] = 0;
                _count[i] = 0;
            }

            _ticks[i] += elapsedTicks;
            _count[i]++;
        }
    }
}
