namespace ServerlessOtlp.Client.Implementation;

/// <summary>
/// Items that failed on every endpoint, oldest first, bounded: adding past the capacity drops
/// the oldest. The exporter drains it into the next export. Thread-safe.
/// </summary>
internal sealed class RetryBuffer<T>(int capacity)
    where T : class
{
    private readonly Queue<T> _items = new();
    private long _dropped;

    public int Capacity { get; } = capacity;

    public int Count
    {
        get
        {
            lock (_items)
            {
                return _items.Count;
            }
        }
    }

    /// <summary>Items dropped because the buffer was full, since it was created.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Adds the items (oldest first); returns how many items were dropped to make room.</summary>
    public int Add(ReadOnlySpan<T> items)
    {
        int dropped = 0;
        lock (_items)
        {
            foreach (var item in items)
            {
                _items.Enqueue(item);
            }

            while (_items.Count > Capacity)
            {
                _items.Dequeue();
                dropped++;
            }
        }

        Interlocked.Add(ref _dropped, dropped);
        return dropped;
    }

    /// <summary>Moves up to <c>destination.Length</c> items, oldest first, into <paramref name="destination"/>.</summary>
    public int Drain(Span<T> destination)
    {
        lock (_items)
        {
            int n = 0;
            while (n < destination.Length && _items.TryDequeue(out var item))
            {
                destination[n++] = item;
            }

            return n;
        }
    }
}
