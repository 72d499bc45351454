using System.Collections.Concurrent;
using System.Threading.RateLimiting;

namespace ServerlessOtlp.Gateway.Ingest;

/// <summary>
/// Per-tenant items-per-second limits: token buckets of one second's worth, refilled by the time
/// elapsed since the last request (not by a timer), so the rate is exact for any limit and the
/// retry delay we advertise is one after which the same request is accepted.
/// </summary>
public sealed class TenantRateLimiter : IDisposable
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MinimumRetryAfter = TimeSpan.FromMilliseconds(10);
    private readonly ConcurrentDictionary<string, (long Limit, TokenBucketRateLimiter Limiter)> _limiters = new(StringComparer.Ordinal);

    /// <summary>Takes <paramref name="items"/> tokens; false when the tenant is over its limit.</summary>
    public bool TryAcquire(string tenant, long? itemsPerSecond, int items, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        if (itemsPerSecond is not > 0 || items <= 0)
        {
            return true;
        }

        long limit = itemsPerSecond.Value;
        var entry = _limiters.AddOrUpdate(
            tenant,
            _ => (limit, Create(limit)),
            (_, existing) => existing.Limit == limit ? existing : (limit, Create(limit)));
        int tokenLimit = (int)Math.Min(int.MaxValue, limit);
        int wanted = Math.Min(items, tokenLimit);
        entry.Limiter.TryReplenish();
        using var lease = entry.Limiter.AttemptAcquire(wanted);
        if (lease.IsAcquired)
        {
            return true;
        }

        // The limiter's own RetryAfter rounds whole periods down; compute the wait for the deficit
        // at the exact rate instead (available permits are truncated, so this errs on the long side).
        long available = entry.Limiter.GetStatistics()?.CurrentAvailablePermits ?? 0;
        long deficit = Math.Max(1, wanted - available);
        var wait = TimeSpan.FromTicks((long)Math.Ceiling((double)deficit * Period.Ticks / tokenLimit));
        retryAfter = wait < MinimumRetryAfter ? MinimumRetryAfter : wait;
        return false;
    }

    private static TokenBucketRateLimiter Create(long itemsPerSecond)
    {
        int limit = (int)Math.Min(int.MaxValue, itemsPerSecond);
        return new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = limit,
            TokensPerPeriod = limit,
            ReplenishmentPeriod = Period,
            QueueLimit = 0,
            AutoReplenishment = false, // TryReplenish adds rate × elapsed time: no timer per tenant, no timer jitter
        });
    }

    public void Dispose()
    {
        foreach (var (_, limiter) in _limiters.Values)
        {
            limiter.Dispose();
        }
    }
}
