namespace ServerlessOtlp.Log;

/// <summary>An in-process log for unit tests and gateway benchmarks. Not durable: never use it to serve data.</summary>
internal sealed class MemoryLog : IPartitionedLog
{
    private readonly List<(EventProperties Properties, byte[] Body)>[] _partitions;

    public MemoryLog(int partitionCount, string name = "memory")
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partitionCount, 1);
        Name = name;
        _partitions = new List<(EventProperties, byte[])>[partitionCount];
        for (int i = 0; i < partitionCount; i++)
        {
            _partitions[i] = [];
        }
    }

    public string Name { get; }

    public int PartitionCount => _partitions.Length;

    /// <summary>When set, only counts appended events and drops their bodies (gateway benchmarks).</summary>
    public bool DiscardBodies { get; init; }

    /// <summary>
    /// When positive, each partition takes appends at most this fast (bytes/s), one after another,
    /// like a log with a provisioned ingress per partition: the gateway's overload benchmark uses it
    /// to reach its in-flight budget. Zero: appends complete at once.
    /// </summary>
    public long AppendBytesPerSecond { get; init; }

    public long AppendedEvents => Interlocked.Read(ref _appendedEvents);

    public long AppendedBytes => Interlocked.Read(ref _appendedBytes);

    private long _appendedEvents;
    private long _appendedBytes;
    private long[]? _freeAt; // per partition: Stopwatch timestamp when its simulated ingress is free again

    public Task OpenAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

    public Task AppendAsync(int partition, IReadOnlyList<LogEvent> events, CancellationToken cancellationToken = default)
    {
        var list = _partitions[partition];
        long bytes = 0;
        foreach (var e in events)
        {
            Interlocked.Increment(ref _appendedEvents);
            Interlocked.Add(ref _appendedBytes, e.Body.Length);
            bytes += e.Body.Length;
            if (DiscardBodies)
            {
                continue;
            }

            var copy = e.Body.ToArray();
            lock (list)
            {
                list.Add((e.Properties, copy));
            }
        }

        return AppendBytesPerSecond > 0 ? ThrottleAsync(partition, bytes, cancellationToken) : Task.CompletedTask;
    }

    private Task ThrottleAsync(int partition, long bytes, CancellationToken cancellationToken)
    {
        var freeAt = LazyInitializer.EnsureInitialized(ref _freeAt, () => new long[_partitions.Length]);
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        long cost = (long)((double)bytes * System.Diagnostics.Stopwatch.Frequency / AppendBytesPerSecond);
        long done;
        lock (freeAt)
        {
            done = Math.Max(now, freeAt[partition]) + cost;
            freeAt[partition] = done;
        }

        var wait = System.Diagnostics.Stopwatch.GetElapsedTime(now, done);
        return wait > TimeSpan.Zero ? Task.Delay(wait, cancellationToken) : Task.CompletedTask;
    }

    public Task<ReadBatch> ReadAsync(int partition, LogPosition from, int maxEvents, int maxBytes, FencingToken fence, CancellationToken cancellationToken = default)
    {
        var list = _partitions[partition];
        var result = new List<ReadEvent>();
        long i = Math.Max(0, from.Value);
        int bytes = 0;
        lock (list)
        {
            while (i < list.Count && result.Count < maxEvents && (result.Count == 0 || bytes + list[(int)i].Body.Length <= maxBytes))
            {
                var (props, body) = list[(int)i];
                bytes += body.Length;
                result.Add(new ReadEvent(new LogPosition(i), new LogPosition(i + 1), props, body));
                i++;
            }
        }

        return Task.FromResult(new ReadBatch(result, new LogPosition(i)));
    }

    public Task<LogPosition> GetEndAsync(int partition, CancellationToken cancellationToken = default)
    {
        var list = _partitions[partition];
        lock (list)
        {
            return Task.FromResult(new LogPosition(list.Count));
        }
    }

    public long Lag(LogPosition checkpoint, LogPosition end) => Math.Max(0, end.Value - Math.Max(0, checkpoint.Value));

    public Task<LogPosition> FindPositionAsync(int partition, DateTimeOffset time, CancellationToken cancellationToken = default)
    {
        var list = _partitions[partition];
        lock (list)
        {
            int i = list.FindIndex(e => e.Properties.ReceivedAt >= time);
            return Task.FromResult(new LogPosition(i < 0 ? list.Count : i));
        }
    }

    /// <summary>Itself: reads keep no state, so a side reader needs nothing of its own.</summary>
    public IPartitionedLog OpenSideReader() => this;

    /// <summary>None: the memory log is gone with its process.</summary>
    public ILogRetention? Retention => null;

    /// <inheritdoc/>
    public string? ConsumerGroup => null;

    /// <summary>All events of a partition (tests).</summary>
    public IReadOnlyList<(EventProperties Properties, byte[] Body)> Snapshot(int partition)
    {
        var list = _partitions[partition];
        lock (list)
        {
            return list.ToArray();
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
