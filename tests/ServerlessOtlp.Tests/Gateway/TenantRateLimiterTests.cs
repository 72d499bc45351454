using Microsoft.Extensions.Time.Testing;
using ServerlessOtlp.Gateway.Ingest;

namespace ServerlessOtlp.Tests.Gateway;

/// <summary>The per-tenant buckets on a fake clock: every figure is exact.</summary>
public sealed class TenantRateLimiterTests
{
    private readonly FakeTimeProvider _time = new();

    private bool Items(TenantRateLimiter limiter, string tenant, double? limit, int items, out TimeSpan retryAfter) =>
        limiter.TryAcquire(tenant, limit, null, items, 0, out retryAfter);

    [Fact]
    public void The_advertised_retry_delay_covers_the_whole_deficit()
    {
        var limiter = new TenantRateLimiter(_time);
        Assert.True(Items(limiter, "t", 1000, 1000, out _));

        // 150 items at 1000/s need exactly 150 ms from an empty bucket.
        Assert.False(Items(limiter, "t", 1000, 150, out var retryAfter));
        Assert.Equal(TimeSpan.FromMilliseconds(150), retryAfter);

        _time.Advance(TimeSpan.FromMilliseconds(100));
        Assert.False(Items(limiter, "t", 1000, 150, out retryAfter));
        Assert.Equal(TimeSpan.FromMilliseconds(50), retryAfter);
    }

    [Fact]
    public void A_request_retried_after_the_advertised_delay_is_accepted_and_not_a_tick_before()
    {
        var limiter = new TenantRateLimiter(_time);
        Assert.True(Items(limiter, "t", 10, 10, out _));
        Assert.False(Items(limiter, "t", 10, 10, out var retryAfter));
        Assert.Equal(TimeSpan.FromSeconds(1), retryAfter);

        _time.Advance(retryAfter - TimeSpan.FromMilliseconds(1));
        Assert.False(Items(limiter, "t", 10, 10, out _));
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(Items(limiter, "t", 10, 10, out _));
    }

    [Fact]
    public void Tenants_and_unlimited_requests_do_not_share_a_bucket()
    {
        var limiter = new TenantRateLimiter(_time);
        Assert.True(Items(limiter, "a", 5, 5, out _));
        Assert.False(Items(limiter, "a", 5, 1, out _));
        Assert.True(Items(limiter, "b", 5, 5, out _));
        Assert.True(Items(limiter, "a", null, 1_000_000, out _));
    }

    [Fact]
    public void A_request_larger_than_the_bucket_is_charged_in_full_so_the_rate_holds()
    {
        var limiter = new TenantRateLimiter(_time);
        // 1,000 items against 100/s: admitted on a full bucket, leaving 900 items of debt.
        Assert.True(Items(limiter, "t", 100, 1000, out _));
        Assert.False(Items(limiter, "t", 100, 1, out var retryAfter));
        Assert.Equal(TimeSpan.FromSeconds(9.01), retryAfter);

        // Over 100 s a client sending 1,000-item requests as fast as it is allowed gets 10,000 items + the first bucket, not 100,000.
        long accepted = 1000;
        for (int step = 0; step < 100_000; step++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(1));
            if (Items(limiter, "t", 100, 1000, out _))
            {
                accepted += 1000;
            }
        }

        Assert.InRange(accepted, 100 * 100, (100 * 100) + 1000);
    }

    [Fact]
    public void Empty_requests_cost_one_item_each()
    {
        var limiter = new TenantRateLimiter(_time);
        for (int i = 0; i < 10; i++)
        {
            Assert.True(Items(limiter, "t", 10, 0, out _));
        }

        Assert.False(Items(limiter, "t", 10, 0, out var retryAfter));
        Assert.Equal(TimeSpan.FromMilliseconds(100), retryAfter);
    }

    [Fact]
    public void Bytes_per_second_limit_requests_and_a_refusal_charges_neither_bucket()
    {
        var limiter = new TenantRateLimiter(_time);
        Assert.True(limiter.TryAcquire("t", 1000, 10_000, 10, 10_000, out _));
        // Items have room, bytes do not: refused, and the item bucket is not charged for it.
        Assert.False(limiter.TryAcquire("t", 1000, 10_000, 10, 5_000, out var retryAfter));
        Assert.Equal(TimeSpan.FromMilliseconds(500), retryAfter);
        _time.Advance(retryAfter);
        Assert.True(limiter.TryAcquire("t", 1000, 10_000, 990, 5_000, out _));
    }

    [Fact]
    public void A_changed_limit_takes_effect_at_once()
    {
        var limiter = new TenantRateLimiter(_time);
        Assert.True(Items(limiter, "t", 10, 10, out _));
        Assert.False(Items(limiter, "t", 10, 1, out _));
        Assert.True(Items(limiter, "t", 1000, 500, out _)); // a new limit starts with a full bucket
    }
}
