using System.Collections.Concurrent;

namespace ServerlessOtlp.Tenants;

/// <summary>
/// A bounded, thread-safe cache whose entries live for a fixed time, with one load per key at
/// a time. A hit is a dictionary read and a clock read, without allocation. Past the capacity
/// the oldest insertions go first. A failed load is not cached (the next caller tries again).
/// </summary>
internal sealed class ExpiringCache<TKey, TValue>
    where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, Entry> _entries;
    private readonly ConcurrentDictionary<TKey, Task<TValue>> _loading;

    // Insertion order, for eviction. Holds one pair per insertion; a pair whose entry was
    // replaced since is stale and removes nothing when it is dequeued.
    private readonly ConcurrentQueue<KeyValuePair<TKey, Entry>> _order = new();
    private readonly TimeProvider _time;
    private readonly long _ttlTimestampTicks;
    private readonly int _capacity;

    public ExpiringCache(TimeSpan ttl, int capacity, TimeProvider time, IEqualityComparer<TKey>? comparer = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ttl, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _time = time;
        _capacity = capacity;
        _ttlTimestampTicks = (long)(ttl.TotalSeconds * time.TimestampFrequency);
        _entries = new ConcurrentDictionary<TKey, Entry>(comparer);
        _loading = new ConcurrentDictionary<TKey, Task<TValue>>(comparer);
    }

    public int Count => _entries.Count;

    public bool TryGet(TKey key, out TValue value)
    {
        if (_entries.TryGetValue(key, out var entry) && _time.GetTimestamp() < entry.ExpiresAt)
        {
            value = entry.Value;
            return true;
        }

        value = default!;
        return false;
    }

    /// <summary>The cached value, or the value of <paramref name="load"/>, shared by concurrent callers of the same key.</summary>
    public ValueTask<TValue> GetOrLoadAsync<TState>(TKey key, TState state, Func<TKey, TState, Task<TValue>> load, CancellationToken cancellationToken)
    {
        return TryGet(key, out var value) ? ValueTask.FromResult(value) : new ValueTask<TValue>(LoadAsync(key, state, load, cancellationToken));
    }

    /// <summary>An expired entry still younger than its TTL + <paramref name="maxStale"/>: the last good answer while the source is down.</summary>
    public bool TryGetStale(TKey key, TimeSpan maxStale, out TValue value)
    {
        if (_entries.TryGetValue(key, out var entry) && _time.GetTimestamp() < entry.ExpiresAt + (long)(maxStale.TotalSeconds * _time.TimestampFrequency))
        {
            value = entry.Value;
            return true;
        }

        value = default!;
        return false;
    }

    /// <summary>
    /// Loads <paramref name="key"/> (one load per key at a time, shared by concurrent callers) and caches
    /// the value unless it is null; a failed load throws and caches nothing.
    /// </summary>
    public async Task<TValue?> LoadPresentAsync<TState>(TKey key, TState state, Func<TKey, TState, Task<TValue?>> load, CancellationToken cancellationToken)
    {
        var mine = new TaskCompletionSource<TValue>(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = _loading.GetOrAdd(key, mine.Task);
        if (task != mine.Task)
        {
            return await task.WaitAsync(cancellationToken);
        }

        // A load that finished between our miss and our GetOrAdd has set the value already: use it.
        if (TryGet(key, out var loaded))
        {
            mine.SetResult(loaded);
            _loading.TryRemove(new KeyValuePair<TKey, Task<TValue>>(key, mine.Task));
            return loaded;
        }

        try
        {
            var value = await load(key, state);
            if (value is not null)
            {
                Set(key, value);
            }

            mine.SetResult(value!);
        }
        catch (Exception ex)
        {
            mine.SetException(ex);
        }
        finally
        {
            _loading.TryRemove(new KeyValuePair<TKey, Task<TValue>>(key, mine.Task));
        }

        return await mine.Task.WaitAsync(cancellationToken);
    }

    public void Set(TKey key, TValue value)
    {
        var entry = new Entry(value, _time.GetTimestamp() + _ttlTimestampTicks);
        _entries[key] = entry;
        _order.Enqueue(new KeyValuePair<TKey, Entry>(key, entry));
        while (_order.Count > _capacity && _order.TryDequeue(out var oldest))
        {
            _entries.TryRemove(oldest);
        }
    }

    public void Remove(TKey key) => _entries.TryRemove(key, out _);

    private async Task<TValue> LoadAsync<TState>(TKey key, TState state, Func<TKey, TState, Task<TValue>> load, CancellationToken cancellationToken)
    {
        var mine = new TaskCompletionSource<TValue>(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = _loading.GetOrAdd(key, mine.Task);
        if (task != mine.Task)
        {
            return await task.WaitAsync(cancellationToken);
        }

        // A load that finished between our miss and our GetOrAdd has set the value already: use it.
        if (TryGet(key, out var loaded))
        {
            mine.SetResult(loaded);
            _loading.TryRemove(new KeyValuePair<TKey, Task<TValue>>(key, mine.Task));
            return loaded;
        }

        try
        {
            // The load is shared, so one caller's cancellation must not fail the others: it
            // runs to completion (bounded by the storage client's own timeouts).
            var value = await load(key, state);
            Set(key, value);
            mine.SetResult(value);
        }
        catch (Exception ex)
        {
            mine.SetException(ex);
        }
        finally
        {
            _loading.TryRemove(new KeyValuePair<TKey, Task<TValue>>(key, mine.Task));
        }

        return await mine.Task.WaitAsync(cancellationToken);
    }

    private sealed class Entry(TValue value, long expiresAt)
    {
        public TValue Value { get; } = value;

        public long ExpiresAt { get; } = expiresAt;
    }
}
