using Azure;

namespace ServerlessOtlp.Storage;

/// <summary>
/// A lease this process holds on one partition, as returned by a successful claim. Renewing
/// updates its ETag and expiry in place; a renew loop may run beside the drainer that reads it.
/// </summary>
public sealed class Lease
{
    private volatile Version _version;

    public Lease(string log, string group, int partition, string owner, long epoch, TimeSpan ttl, DateTimeOffset renewedAt, ETag etag)
    {
        Log = log;
        Group = group;
        Partition = partition;
        Owner = owner;
        Epoch = epoch;
        Ttl = ttl;
        _version = new Version(etag, renewedAt);
    }

    public string Log { get; }

    public string Group { get; }

    public int Partition { get; }

    public string Owner { get; }

    /// <summary>Incremented by every claim; the drainer fences the checkpoint with it and opens the Event Hubs receiver with it as OwnerLevel.</summary>
    public long Epoch { get; }

    public TimeSpan Ttl { get; }

    /// <summary>Service time of the last successful claim or renewal (never later than the service's record of it).</summary>
    public DateTimeOffset RenewedAt => _version.RenewedAt;

    /// <summary>When the lease expires by the service's clock, unless renewed.</summary>
    public DateTimeOffset ExpiresAt => _version.RenewedAt + Ttl;

    public ETag ETag => _version.ETag;

    internal void Renewed(ETag etag, DateTimeOffset renewedAt) => _version = new Version(etag, renewedAt);

    private sealed record Version(ETag ETag, DateTimeOffset RenewedAt);
}

/// <summary>
/// The outcome of <see cref="LeaseStore.TryClaimAsync"/>. Losing is a normal outcome:
/// <see cref="Claimed"/> is false, <see cref="Lease"/> null, and <see cref="Current"/> says who holds it.
/// </summary>
public sealed record LeaseClaim(bool Claimed, Lease? Lease, LeaseInfo Current);

/// <summary>
/// A lease row as seen at <see cref="ServiceNow"/> (service time). <see cref="Owner"/> is null
/// when the lease is free (never claimed, or released).
/// </summary>
public sealed record LeaseInfo(
    int Partition,
    string? Owner,
    long Epoch,
    TimeSpan Ttl,
    DateTimeOffset? RenewedAt,
    DateTimeOffset? ExpiresAt,
    bool IsExpired,
    DateTimeOffset ServiceNow,
    ETag ETag)
{
    /// <summary>True when anyone may claim the lease: nobody owns it, or its owner let it expire.</summary>
    public bool IsClaimable => Owner is null || IsExpired;
}
