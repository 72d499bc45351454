namespace ServerlessOtlp.Gateway.Ingest;

/// <summary>Bounds the bytes the gateway holds before they are durable; a full budget refuses instead of queueing.</summary>
public sealed class InFlightBudget(long capacityBytes)
{
    private long _used;

    public long Capacity => capacityBytes;

    public long Used => Interlocked.Read(ref _used);

    public bool TryReserve(long bytes)
    {
        long after = Interlocked.Add(ref _used, bytes);
        // A single request larger than the whole budget is still let through when nothing else is held,
        // so that the request-size limit, not the budget, decides what is too large.
        if (after > capacityBytes && after != bytes)
        {
            Interlocked.Add(ref _used, -bytes);
            return false;
        }

        return true;
    }

    public void Release(long bytes) => Interlocked.Add(ref _used, -bytes);
}
