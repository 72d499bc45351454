using ServerlessOtlp.Gateway.Ingest;

namespace ServerlessOtlp.Tests.Gateway;

public sealed class TenantRateLimiterTests
{
    [Fact]
    public void The_advertised_retry_delay_covers_the_whole_deficit()
    {
        using var limiter = new TenantRateLimiter();
        Assert.True(limiter.TryAcquire("t", 1000, 1000, out _));

        // 150 items at 1000/s need at least 150 ms; a whole-period answer rounded down would say less.
        Assert.False(limiter.TryAcquire("t", 1000, 150, out var retryAfter));
        Assert.InRange(retryAfter, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(150));
    }

    [Fact]
    public void A_request_retried_after_the_advertised_delay_is_accepted()
    {
        using var limiter = new TenantRateLimiter();
        Assert.True(limiter.TryAcquire("t", 10, 10, out _));
        Assert.False(limiter.TryAcquire("t", 10, 10, out var retryAfter));
        Thread.Sleep(retryAfter);
        Assert.True(limiter.TryAcquire("t", 10, 10, out _));
    }

    [Fact]
    public void Tenants_and_unlimited_requests_do_not_share_a_bucket()
    {
        using var limiter = new TenantRateLimiter();
        Assert.True(limiter.TryAcquire("a", 5, 5, out _));
        Assert.False(limiter.TryAcquire("a", 5, 1, out _));
        Assert.True(limiter.TryAcquire("b", 5, 5, out _));
        Assert.True(limiter.TryAcquire("a", null, 1_000_000, out _));
    }

    [Fact]
    public void A_request_larger_than_the_limit_waits_for_a_full_bucket_instead_of_forever()
    {
        using var limiter = new TenantRateLimiter();
        Assert.True(limiter.TryAcquire("t", 100, 1000, out _)); // capped at the bucket size
        Assert.False(limiter.TryAcquire("t", 100, 1000, out var retryAfter));
        Assert.InRange(retryAfter, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(1));
    }
}
