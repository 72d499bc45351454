namespace ServerlessOtlp.Tests.Infrastructure;

/// <summary>
/// A clock that moves only when something waits on it: a timer of <c>d</c> moves the clock by
/// <c>d</c> and fires at once. Code that measures with it sees exactly the delays it was given
/// (e.g. Polly's injected latency) and none of the machine's own time, whatever the load.
/// Meant for code that waits on one thing at a time.
/// </summary>
public sealed class InstantTimeProvider : TimeProvider
{
    private long _ticks = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).UtcTicks;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    public override long GetTimestamp() => Interlocked.Read(ref _ticks);

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        new InstantTimer(this, callback, state, dueTime);

    private void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, Math.Max(0, by.Ticks));

    private sealed class InstantTimer : ITimer
    {
        private readonly InstantTimeProvider _owner;
        private readonly TimerCallback _callback;
        private readonly object? _state;
        private int _generation;

        public InstantTimer(InstantTimeProvider owner, TimerCallback callback, object? state, TimeSpan dueTime)
        {
            _owner = owner;
            _callback = callback;
            _state = state;
            Change(dueTime, Timeout.InfiniteTimeSpan);
        }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            int generation = Interlocked.Increment(ref _generation);
            if (dueTime == Timeout.InfiniteTimeSpan)
            {
                return true;
            }

            ThreadPool.UnsafeQueueUserWorkItem(
                _ =>
                {
                    if (Volatile.Read(ref _generation) == generation)
                    {
                        _owner.Advance(dueTime);
                        _callback(_state);
                    }
                },
                null);
            return true;
        }

        public void Dispose() => Interlocked.Increment(ref _generation);

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
