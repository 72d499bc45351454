using System.Collections.Concurrent;
using System.Threading.RateLimiting;

namespace ServerlessOtlp.Gateway.Ingest;

/// <summary>Per-tenant items-per-second limits (token buckets refilled every 100 ms).</summary>
public sealed class TenantRateLimiter : IDisposable
{
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(100);
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
        using var lease = entry.Limiter.AttemptAcquire(Math.Min(items, tokenLimit));
        if (lease.IsAcquired)
        {
            return true;
        }

        retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var after) && after > TimeSpan.Zero ? after : TimeSpan.FromSeconds(1);
        return false;
    }

    private static TokenBucketRateLimiter Create(long itemsPerSecond)
    {
        int limit = (int)Math.Min(int.MaxValue, itemsPerSecond);
        return new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = limit,
            TokensPerPeriod = Math.Max(1, (int)Math.Min(int.MaxValue, itemsPerSecond / 10)),
            ReplenishmentPeriod = Period,
            QueueLimit = 0,
            AutoReplenishment = true,
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
