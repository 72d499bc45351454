namespace ServerlessOtlp.Gateway.Protocol;

/// <summary>
/// Says why tenant lookups fail (storage down, credentials, throttling): every refused request is
/// counted (<c>reason="tenants_unavailable"</c>), but the cause is logged at most once per
/// interval with how many failures it stands for, so an outage does not flood the log.
/// </summary>
internal sealed class TenantLookupFailures(ILogger<TenantLookupFailures> logger, TimeProvider time)
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);
    private long _nextLogTimestamp = long.MinValue;
    private long _since;

    public void Failed(Exception exception)
    {
        long count = Interlocked.Increment(ref _since);
        long now = time.GetTimestamp();
        long next = Interlocked.Read(ref _nextLogTimestamp);
        if (now < next || Interlocked.CompareExchange(ref _nextLogTimestamp, now + (long)(Interval.TotalSeconds * time.TimestampFrequency), next) != next)
        {
            return;
        }

        Interlocked.Add(ref _since, -count);
        logger.LogWarning(exception, "Tenant lookup failed; requests are refused with a retryable answer ({Count} since the last report)", count);
    }
}
