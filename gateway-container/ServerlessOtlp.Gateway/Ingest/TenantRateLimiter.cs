using System.Collections.Concurrent;

namespace ServerlessOtlp.Gateway.Ingest;

/// <summary>
/// Per-tenant limits at the gateway: items per second and decompressed bytes per second, each a
/// <see cref="TokenBucket"/> of one second's worth. Every request costs at least one item, so empty
/// requests are not free, and a request larger than a bucket is charged in full (the bucket goes
/// into debt) so that large requests cannot exceed the rate. The delay advertised on refusal is
/// one after which the same request is accepted, unless other requests took the tokens first.
/// </summary>
/// <remarks>
/// A tenant's limits hold for the whole deployment: <see cref="TenantLimitShares"/> gives this replica its
/// share (by the demand each replica sees), and the buckets here run at that share.
/// </remarks>
internal sealed class TenantRateLimiter(TimeProvider? time = null, TenantLimitShares? shares = null)
{
    // Past this, the least recently created entries go (a tenant that comes back gets a full bucket).
    private const int MaxTenants = 100_000;

    private static readonly TimeSpan MinimumRetryAfter = TimeSpan.FromMilliseconds(10);
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ConcurrentDictionary<string, Buckets> _tenants = new(StringComparer.Ordinal);

    /// <summary>Charges a request of <paramref name="items"/> items and <paramref name="bytes"/> bytes; false when the tenant is over a limit.</summary>
    public bool TryAcquire(string tenant, double? itemsPerSecond, double? bytesPerSecond, int items, long bytes, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        if (itemsPerSecond is not > 0 && bytesPerSecond is not > 0)
        {
            return true;
        }

        var buckets = Get(tenant, itemsPerSecond, bytesPerSecond);
        double itemCost = Math.Max(1, items);
        shares?.Record(tenant, items, bytes);
        lock (buckets)
        {
            if (shares != null)
            {
                buckets.Share(shares.Fraction(tenant));
            }

            // Both must have room before either is charged: a refused request costs nothing.
            TimeSpan itemWait = TimeSpan.Zero, byteWait = TimeSpan.Zero;
            bool itemsOk = buckets.Items?.CanTake(itemCost, out itemWait) ?? true;
            bool bytesOk = buckets.Bytes?.CanTake(Math.Max(1, bytes), out byteWait) ?? true;
            if (!itemsOk || !bytesOk)
            {
                var wait = itemWait > byteWait ? itemWait : byteWait;
                retryAfter = wait < MinimumRetryAfter ? MinimumRetryAfter : wait;
                return false;
            }

            buckets.Items?.Take(itemCost);
            buckets.Bytes?.Take(Math.Max(1, bytes));
            return true;
        }
    }

    private Buckets Get(string tenant, double? itemsPerSecond, double? bytesPerSecond)
    {
        if (_tenants.TryGetValue(tenant, out var existing) && existing.Matches(itemsPerSecond, bytesPerSecond))
        {
            return existing;
        }

        if (_tenants.Count >= MaxTenants)
        {
            _tenants.Clear(); // rare: a full bucket for everyone is the lenient side of the error
        }

        var created = new Buckets(
            itemsPerSecond is > 0 and double i ? new TokenBucket(i, _time) : null,
            bytesPerSecond is > 0 and double b ? new TokenBucket(b, _time) : null);
        return _tenants.AddOrUpdate(tenant, created, (_, old) => old.Matches(itemsPerSecond, bytesPerSecond) ? old : created);
    }

    private sealed class Buckets(TokenBucket? items, TokenBucket? bytes)
    {
        private readonly double? _itemLimit = items?.PerSecond;
        private readonly double? _byteLimit = bytes?.PerSecond;
        private double _fraction = 1;

        public TokenBucket? Items { get; } = items;

        public TokenBucket? Bytes { get; } = bytes;

        /// <summary>Whether these buckets were made for these configured limits (whatever share they run at).</summary>
        public bool Matches(double? itemsPerSecond, double? bytesPerSecond) =>
            _itemLimit == (itemsPerSecond is > 0 ? itemsPerSecond : null)
            && _byteLimit == (bytesPerSecond is > 0 ? bytesPerSecond : null);

        /// <summary>Runs the buckets at <paramref name="fraction"/> of the configured limits (called under the buckets' lock).</summary>
        public void Share(double fraction)
        {
            if (Math.Abs(fraction - _fraction) < 1e-3)
            {
                return;
            }

            _fraction = fraction;
            if (_itemLimit is { } i)
            {
                Items!.SetRate(Math.Max(1, i * fraction));
            }

            if (_byteLimit is { } b)
            {
                Bytes!.SetRate(Math.Max(1, b * fraction));
            }
        }
    }
}
