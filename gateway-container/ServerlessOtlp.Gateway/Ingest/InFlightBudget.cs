namespace ServerlessOtlp.Gateway.Ingest;

/// <summary>
/// Bounds the bytes the gateway holds for requests — bodies as read, decompressed, converted from
/// JSON, split, until durable — and shares them between tenants. A full budget refuses (retryable)
/// instead of queueing. Up to half the capacity anyone may take; past half, a tenant grows only up
/// to capacity / (other tenants holding bytes + 2): a share that always leaves room for one more
/// tenant, so one tenant flooding the gateway cannot push every other tenant into 503 (a tenant
/// alone holds at most half once the budget is half full).
/// </summary>
internal sealed class InFlightBudget(long capacityBytes)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, long> _byTenant = new(StringComparer.Ordinal);
    private long _used;

    public long Capacity => capacityBytes;

    public long Used => Interlocked.Read(ref _used);

    /// <summary>Tenants holding bytes now.</summary>
    public int Tenants
    {
        get
        {
            lock (_lock)
            {
                return _byTenant.Count;
            }
        }
    }

    public long UsedBy(string tenant)
    {
        lock (_lock)
        {
            return _byTenant.GetValueOrDefault(tenant);
        }
    }

    /// <param name="heldByCaller">What the caller (one request) already holds: a request alone in the gateway may exceed the budget.</param>
    public bool TryReserve(string tenant, long bytes, long heldByCaller = 0)
    {
        if (bytes <= 0)
        {
            return true;
        }

        lock (_lock)
        {
            long mine = _byTenant.GetValueOrDefault(tenant);
            long after = _used + bytes;
            // A single request larger than the whole budget is let through when nothing else is held,
            // so that the request-size limits, not the budget, decide what is too large.
            bool alone = _used == heldByCaller;
            if (!alone)
            {
                if (after > capacityBytes)
                {
                    return false;
                }

                int others = _byTenant.Count - (mine > 0 ? 1 : 0);
                if (after > capacityBytes / 2 && mine + bytes > capacityBytes / (others + 2))
                {
                    return false;
                }
            }

            Interlocked.Exchange(ref _used, after);
            _byTenant[tenant] = mine + bytes;
            return true;
        }
    }

    public void Release(string tenant, long bytes)
    {
        if (bytes <= 0)
        {
            return;
        }

        lock (_lock)
        {
            long mine = _byTenant.GetValueOrDefault(tenant) - bytes;
            if (mine <= 0)
            {
                _byTenant.Remove(tenant);
            }
            else
            {
                _byTenant[tenant] = mine;
            }

            Interlocked.Exchange(ref _used, Math.Max(0, _used - bytes));
        }
    }
}

/// <summary>
/// What one request holds of the <see cref="InFlightBudget"/>: reserved before each buffer is
/// taken (body, decompression, JSON conversion, split), released when the request is answered.
/// </summary>
internal sealed class RequestMemory : IDisposable
{
    // The request being read on this flow, for the gRPC decompressor (grpc-dotnet gives it no context).
    private static readonly AsyncLocal<RequestMemory?> CurrentRequest = new();

    private readonly InFlightBudget _budget;
    private long _held;

    public RequestMemory(InFlightBudget budget, string tenant)
    {
        _budget = budget;
        Tenant = tenant;
    }

    public static RequestMemory? Current
    {
        get => CurrentRequest.Value;
        set => CurrentRequest.Value = value;
    }

    public string Tenant { get; }

    public long Held => Interlocked.Read(ref _held);

    /// <summary>Reserves <paramref name="bytes"/> more; false (nothing reserved) when the budget or the tenant's share is full.</summary>
    public bool TryGrow(long bytes)
    {
        if (!_budget.TryReserve(Tenant, bytes, Held))
        {
            return false;
        }

        Interlocked.Add(ref _held, bytes);
        return true;
    }

    /// <summary>Gives back <paramref name="bytes"/> no longer held (a buffer returned, a bound not used).</summary>
    public void Shrink(long bytes)
    {
        bytes = Math.Min(bytes, Held);
        if (bytes > 0)
        {
            Interlocked.Add(ref _held, -bytes);
            _budget.Release(Tenant, bytes);
        }
    }

    public void Dispose() => Shrink(Held);
}
