namespace ServerlessOtlp.EventHubsEmulator.Implementation;

/// <summary>What the management node and the runtime metric report for a partition.</summary>
internal readonly record struct PartitionState(
    long BeginSequenceNumber,
    long LastEnqueuedSequenceNumber,
    long LastEnqueuedOffset,
    DateTimeOffset LastEnqueuedTime,
    bool IsEmpty,
    int RetainedEvents);

/// <summary>
/// One partition's events in memory. Sequence numbers and offsets only grow, even when retention has
/// removed every event, and enqueued times never go backwards, so positions are found by binary search.
/// </summary>
internal sealed class PartitionLog(string id, TimeProvider time, TimeSpan retention)
{
    /// <summary>Reported as the last enqueued time of a partition that never had an event.</summary>
    private static readonly DateTimeOffset NeverEnqueued = DateTimeOffset.UnixEpoch;

    private readonly object gate = new();
    private readonly List<StoredEvent> events = [];
    private long nextSequenceNumber;
    private long nextOffset;
    private StoredEvent? lastEnqueued;
    private PartitionReader[] subscribers = [];

    public string Id { get; } = id;

    public long NextSequenceNumber
    {
        get
        {
            lock (gate)
            {
                return nextSequenceNumber;
            }
        }
    }

    /// <summary>Appends a batch atomically (one publish is contiguous in the partition) and wakes the readers.</summary>
    public void Append(IReadOnlyList<IncomingEvent> batch)
    {
        PartitionReader[] waiting;
        lock (gate)
        {
            DateTimeOffset now = time.GetUtcNow();
            ExpireLocked(RetentionCutoff(now));
            if (lastEnqueued is not null && now < lastEnqueued.EnqueuedTime)
            {
                now = lastEnqueued.EnqueuedTime;
            }

            // Sealing decodes the publisher's message and can throw: commit only a wholly sealed batch.
            var sealedBatch = new StoredEvent[batch.Count];
            long sequenceNumber = nextSequenceNumber;
            long offset = nextOffset;
            for (int i = 0; i < batch.Count; i++)
            {
                sealedBatch[i] = batch[i].Seal(sequenceNumber++, offset, now);
                offset += batch[i].Size;
            }

            events.AddRange(sealedBatch);
            nextSequenceNumber = sequenceNumber;
            nextOffset = offset;
            lastEnqueued = sealedBatch.Length > 0 ? sealedBatch[^1] : lastEnqueued;
            waiting = subscribers;
        }

        foreach (PartitionReader reader in waiting)
        {
            reader.RequestPump();
        }
    }

    /// <summary>
    /// Copies up to <paramref name="max"/> retained events at or after <paramref name="fromSequenceNumber"/>,
    /// skipping those <paramref name="start"/> does not admit. A position before the first retained event
    /// starts at the first retained event, as on the service.
    /// </summary>
    public int Read(long fromSequenceNumber, StartPosition? start, List<StoredEvent> into, int max)
    {
        lock (gate)
        {
            ExpireLocked(RetentionCutoff(time.GetUtcNow()));
            if (events.Count == 0)
            {
                return 0;
            }

            long skip = fromSequenceNumber - events[0].SequenceNumber;
            int first = skip <= 0 ? 0 : skip >= events.Count ? events.Count : (int)skip;
            if (start is { } position)
            {
                first = FirstAdmitted(first, position);
            }

            int count = Math.Min(max, events.Count - first);
            for (int i = 0; i < count; i++)
            {
                into.Add(events[first + i]);
            }

            return count;
        }
    }

    public PartitionState Describe()
    {
        lock (gate)
        {
            ExpireLocked(RetentionCutoff(time.GetUtcNow()));
            return new PartitionState(
                BeginSequenceNumber: events.Count > 0 ? events[0].SequenceNumber : nextSequenceNumber,
                LastEnqueuedSequenceNumber: lastEnqueued?.SequenceNumber ?? -1,
                LastEnqueuedOffset: lastEnqueued?.Offset ?? -1,
                LastEnqueuedTime: lastEnqueued?.EnqueuedTime ?? NeverEnqueued,
                IsEmpty: events.Count == 0,
                RetainedEvents: events.Count);
        }
    }

    /// <summary>Removes what retention has expired by now; returns how many events.</summary>
    public int ApplyRetention()
    {
        lock (gate)
        {
            return ExpireLocked(RetentionCutoff(time.GetUtcNow()));
        }
    }

    /// <summary>Removes the events enqueued at or before <paramref name="cutoff"/>; returns how many.</summary>
    public int Expire(DateTimeOffset cutoff)
    {
        lock (gate)
        {
            return ExpireLocked(cutoff);
        }
    }

    public void Subscribe(PartitionReader reader)
    {
        lock (gate)
        {
            subscribers = [.. subscribers, reader];
        }
    }

    public void Unsubscribe(PartitionReader reader)
    {
        lock (gate)
        {
            int index = Array.IndexOf(subscribers, reader);
            if (index >= 0)
            {
                PartitionReader[] remaining = new PartitionReader[subscribers.Length - 1];
                Array.Copy(subscribers, 0, remaining, 0, index);
                Array.Copy(subscribers, index + 1, remaining, index, remaining.Length - index);
                subscribers = remaining;
            }
        }
    }

    /// <summary>The newest enqueued time that retention has already removed.</summary>
    private DateTimeOffset RetentionCutoff(DateTimeOffset now) =>
        now - DateTimeOffset.MinValue <= retention ? DateTimeOffset.MinValue : now - retention;

    private int ExpireLocked(DateTimeOffset cutoff)
    {
        int expired = 0;
        while (expired < events.Count && events[expired].EnqueuedTime <= cutoff)
        {
            expired++;
        }

        if (expired > 0)
        {
            events.RemoveRange(0, expired);
        }

        return expired;
    }

    private int FirstAdmitted(int from, StartPosition position)
    {
        int low = from;
        int high = events.Count;
        while (low < high)
        {
            int middle = low + ((high - low) / 2);
            if (position.Admits(events[middle]))
            {
                high = middle;
            }
            else
            {
                low = middle + 1;
            }
        }

        return low;
    }
}
