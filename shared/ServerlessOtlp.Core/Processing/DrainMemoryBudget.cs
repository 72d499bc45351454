namespace ServerlessOtlp.Processing;

/// <summary>
/// A process-wide byte budget for event bytes the drains have read and not yet settled
/// (<c>Drain:MemoryBudgetBytes</c>). A drain takes a grant before each read, reads at most what
/// it got and gives it back when the batch is checkpointed. Waiters are served in order, so a
/// drain that needs much is not starved by drains that need little.
/// </summary>
public sealed class DrainMemoryBudget
{
    private readonly object _gate = new();
    private readonly LinkedList<Waiter> _waiters = new();
    private long _inUse;
    private long _highWater;

    public DrainMemoryBudget(long capacityBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityBytes, 1);
        Capacity = capacityBytes;
    }

    public long Capacity { get; }

    /// <summary>Bytes granted and not yet released.</summary>
    public long InUse => Interlocked.Read(ref _inUse);

    /// <summary>The most ever granted at once; never above <see cref="Capacity"/>.</summary>
    public long HighWaterMark => Interlocked.Read(ref _highWater);

    /// <summary>
    /// Waits until at least <paramref name="atLeast"/> bytes are free (clamped to the capacity, so
    /// any request can be met once the others release), then grants up to <paramref name="atMost"/>.
    /// </summary>
    public ValueTask<long> AcquireAsync(long atLeast, long atMost, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(atLeast, 1);
        atLeast = Math.Min(atLeast, Capacity);
        atMost = Math.Max(atLeast, Math.Min(atMost, Capacity));
        Waiter waiter;
        lock (_gate)
        {
            if (_waiters.Count == 0 && Capacity - _inUse >= atLeast)
            {
                return ValueTask.FromResult(GrantLocked(atLeast, atMost));
            }

            waiter = new Waiter(atLeast, atMost);
            waiter.Node = _waiters.AddLast(waiter);
        }

        if (cancellationToken.CanBeCanceled)
        {
            waiter.Registration = cancellationToken.Register(() =>
            {
                lock (_gate)
                {
                    if (waiter.Node?.List == null)
                    {
                        return; // already granted
                    }

                    _waiters.Remove(waiter.Node);
                    GrantWaitersLocked(); // the head may have been the one blocking the others
                }

                waiter.Completion.TrySetCanceled(cancellationToken);
            });
        }

        return new ValueTask<long>(waiter.Completion.Task);
    }

    /// <summary>Gives back bytes from <see cref="AcquireAsync"/>.</summary>
    public void Release(long bytes)
    {
        if (bytes <= 0)
        {
            return;
        }

        lock (_gate)
        {
            if (bytes > _inUse)
            {
                throw new InvalidOperationException($"released {bytes} bytes but only {_inUse} are in use");
            }

            Interlocked.Add(ref _inUse, -bytes);
            GrantWaitersLocked();
        }
    }

    private long GrantLocked(long atLeast, long atMost)
    {
        long grant = Math.Clamp(Capacity - _inUse, atLeast, atMost);
        long now = Interlocked.Add(ref _inUse, grant);
        if (now > _highWater)
        {
            Interlocked.Exchange(ref _highWater, now);
        }

        return grant;
    }

    private void GrantWaitersLocked()
    {
        while (_waiters.First is { } head && Capacity - _inUse >= head.Value.AtLeast)
        {
            var waiter = head.Value;
            _waiters.RemoveFirst();
            long grant = GrantLocked(waiter.AtLeast, waiter.AtMost);
            waiter.Registration.Unregister(); // not Dispose: it would wait for a running callback, which waits for this lock

            // Continuations run elsewhere (RunContinuationsAsynchronously), never under the lock.
            if (!waiter.Completion.TrySetResult(grant))
            {
                Interlocked.Add(ref _inUse, -grant);
            }
        }
    }

    private sealed class Waiter(long atLeast, long atMost)
    {
        public long AtLeast { get; } = atLeast;

        public long AtMost { get; } = atMost;

        public TaskCompletionSource<long> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public LinkedListNode<Waiter>? Node { get; set; }

        public CancellationTokenRegistration Registration { get; set; }
    }
}
