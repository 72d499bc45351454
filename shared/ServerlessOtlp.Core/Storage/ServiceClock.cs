using Azure;

namespace ServerlessOtlp.Storage;

/// <summary>
/// "Now" as the storage service sees it. Lease expiry compares the service's own timestamps
/// (an entity's <c>Timestamp</c>, a response's <c>Date</c>) so that skew between our machines
/// cannot make two of them believe they hold the same lease.
/// </summary>
internal static class ServiceClock
{
    /// <summary>
    /// The <c>Date</c> header of a service response. It has one-second resolution and is
    /// truncated, so it lags the service's clock by under a second: an expiry check against it
    /// errs towards "still live", the safe side.
    /// </summary>
    public static DateTimeOffset Now(Response response)
    {
        // RFC 9110 §6.6.1: an origin server with a clock must send Date; Azure Storage and
        // Azurite always do. The local clock is only a last resort for a proxy that strips it.
        return response.Headers.Date ?? DateTimeOffset.UtcNow;
    }

    /// <summary>True when <paramref name="serviceNow"/> ≥ <paramref name="renewedAt"/> + <paramref name="ttl"/>.</summary>
    public static bool IsExpired(DateTimeOffset renewedAt, TimeSpan ttl, DateTimeOffset serviceNow) =>
        serviceNow >= renewedAt + ttl;
}
