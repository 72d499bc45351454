namespace ServerlessOtlp.Gateway.Ingest;

/// <summary>
/// A token bucket refilled by the time elapsed on a <see cref="TimeProvider"/> (no timer, exact for
/// any rate), holding at most <see cref="Capacity"/> tokens (one second's worth unless told). A cost larger than the bucket is taken in full
/// once the bucket is full, leaving it in debt: the requests after it wait until the debt is paid,
/// so the long-run rate never exceeds the limit whatever the request sizes.
/// </summary>
internal sealed class TokenBucket
{
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private double _tokens;
    private long _last;

    public TokenBucket(double perSecond, TimeProvider time, double? capacity = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(perSecond, 0);
        PerSecond = perSecond;
        Capacity = capacity ?? perSecond;
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(Capacity, 0);
        _time = time;
        _tokens = Capacity;
        _last = time.GetTimestamp();
    }

    public double PerSecond { get; private set; }

    public double Capacity { get; private set; }

    /// <summary>Changes the rate (and a one-second capacity with it) from now on, keeping the tokens (or the debt) accrued so far.</summary>
    public void SetRate(double perSecond)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(perSecond, 0);
        lock (_lock)
        {
            Refill();
            PerSecond = perSecond;
            Capacity = perSecond;
            _tokens = Math.Min(_tokens, Capacity);
        }
    }

    /// <summary>Tokens now (negative while in debt).</summary>
    public double Tokens
    {
        get
        {
            lock (_lock)
            {
                Refill();
                return _tokens;
            }
        }
    }

    /// <summary>Whether <paramref name="cost"/> could be taken now; does not take it.</summary>
    public bool CanTake(double cost, out TimeSpan retryAfter)
    {
        lock (_lock)
        {
            Refill();
            return Check(cost, out retryAfter);
        }
    }

    /// <summary>Takes <paramref name="cost"/> tokens, or says how long to wait until it can.</summary>
    public bool TryTake(double cost, out TimeSpan retryAfter)
    {
        lock (_lock)
        {
            Refill();
            if (!Check(cost, out retryAfter))
            {
                return false;
            }

            _tokens -= cost;
            return true;
        }
    }

    /// <summary>Takes tokens without asking (a cost found out after admission, e.g. a second dimension).</summary>
    public void Take(double cost)
    {
        lock (_lock)
        {
            Refill();
            _tokens -= cost;
        }
    }

    private bool Check(double cost, out TimeSpan retryAfter)
    {
        // A cost above the bucket's size waits for a full bucket, then goes into debt.
        double needed = Math.Min(cost, Capacity);
        if (_tokens >= needed)
        {
            retryAfter = TimeSpan.Zero;
            return true;
        }

        // The whole deficit at the exact rate, rounded up to a tick: a client that waits this long is accepted.
        retryAfter = TimeSpan.FromTicks((long)Math.Ceiling((needed - _tokens) / PerSecond * TimeSpan.TicksPerSecond));
        return false;
    }

    private void Refill()
    {
        long now = _time.GetTimestamp();
        double elapsed = (double)(now - _last) / _time.TimestampFrequency;
        _last = now;
        if (elapsed > 0)
        {
            _tokens = Math.Min(Capacity, _tokens + (elapsed * PerSecond));
        }
    }
}
