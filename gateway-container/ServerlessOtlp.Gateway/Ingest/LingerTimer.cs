namespace ServerlessOtlp.Gateway.Ingest;

/// <summary>
/// The gateway's one group-commit linger: partitions that want to wait for more data register
/// here, and a single timer armed by the first of them starts all their pumps together when
/// <see cref="GatewayOptions.FlushDelay"/> has passed, instead of one timer per partition per request.
/// </summary>
internal sealed class LingerTimer : IDisposable
{
    private readonly TimeSpan _delay;
    private readonly ITimer _timer;
    private readonly object _lock = new();
    private List<PartitionAppender> _waiting = [];
    private List<PartitionAppender>? _spare = [];
    private bool _armed;

    public LingerTimer(TimeSpan delay, TimeProvider time)
    {
        _delay = delay;
        // The timer must not capture the ExecutionContext of whichever request happened to build the gateway.
        using var noFlow = ExecutionContext.IsFlowSuppressed() ? default : ExecutionContext.SuppressFlow();
        _timer = time.CreateTimer(static s => ((LingerTimer)s!).Fire(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Starts <paramref name="appender"/>'s pump when the current linger window ends.</summary>
    public void Schedule(PartitionAppender appender)
    {
        bool arm;
        lock (_lock)
        {
            _waiting.Add(appender);
            arm = !_armed;
            _armed = true;
        }

        if (arm)
        {
            _timer.Change(_delay, Timeout.InfiniteTimeSpan);
        }
    }

    private void Fire()
    {
        List<PartitionAppender> due;
        lock (_lock)
        {
            due = _waiting;
            _waiting = _spare ?? [];
            _spare = null; // a second firing while this one runs gets a list of its own
            _armed = false;
        }

        foreach (var appender in due)
        {
            appender.LingerElapsed();
        }

        due.Clear();
        lock (_lock)
        {
            _spare ??= due;
        }
    }

    public void Dispose() => _timer.Dispose();
}
