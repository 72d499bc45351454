using System.Collections.Concurrent;
using System.Net;
using ServerlessOtlp.Gateway.Ingest;

namespace ServerlessOtlp.Gateway.Security;

/// <summary>
/// Failed authentications per client address: a bucket of <see cref="Burst"/> failures refilled at
/// <see cref="PerSecond"/>. An address past it gets a retryable refusal (429 / RESOURCE_EXHAUSTED with
/// a delay) for keys the gateway does not know, instead of 401, and no lookup at all; keys it knows
/// still work, so a client sharing a NAT address with a key guesser keeps sending.
/// </summary>
internal sealed class AuthFailureLimiter(TimeProvider time)
{
    /// <summary>Failures an address may make at once (a misconfigured fleet restarting shows as a burst).</summary>
    public const int Burst = 20;

    /// <summary>Failures per second an address may make after the burst.</summary>
    public const double PerSecond = 2;

    // Addresses tracked; past it, addresses whose bucket is full again are forgotten first.
    private const int MaxAddresses = 100_000;

    private readonly ConcurrentDictionary<IPAddress, TokenBucket> _addresses = new();

    public int TrackedAddresses => _addresses.Count;

    /// <summary>Whether this address may fail once more now; when not, how long it waits.</summary>
    public bool IsBlocked(IPAddress address, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        return _addresses.TryGetValue(address, out var bucket) && !bucket.CanTake(1, out retryAfter);
    }

    public void Failed(IPAddress address)
    {
        if (!_addresses.TryGetValue(address, out var bucket))
        {
            if (_addresses.Count >= MaxAddresses)
            {
                Trim();
            }

            bucket = _addresses.GetOrAdd(address, _ => new TokenBucket(PerSecond, time, Burst));
        }

        bucket.Take(1);
    }

    private void Trim()
    {
        foreach (var (address, bucket) in _addresses)
        {
            if (bucket.Tokens >= Burst)
            {
                _addresses.TryRemove(address, out _);
            }
        }

        if (_addresses.Count >= MaxAddresses)
        {
            _addresses.Clear(); // every address is failing at once: forgetting is the lenient error
        }
    }
}
