using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using ServerlessOtlp.Log;
using ServerlessOtlp.Performance;
using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Processing;

/// <summary>How a drain job ended.</summary>
public enum DrainEnd
{
    /// <summary>Another instance holds the lease.</summary>
    NotClaimed,

    /// <summary>Nothing new for the idle timeout: caught up.</summary>
    Idle,

    /// <summary>The time budget ran out while data remained: the caller continues the job.</summary>
    BudgetExhausted,

    /// <summary>A destination failed transiently; the partition is retried later from its checkpoint.</summary>
    RetryLater,

    /// <summary>Another instance took the lease (or an operator replayed): stopped without writing.</summary>
    LeaseLost,

    /// <summary>The host is stopping.</summary>
    Cancelled,

    /// <summary>A bounded drain (a tenant's replay cursor) reached its end position and checkpointed it.</summary>
    ReachedEnd,

    /// <summary>
    /// This node judged itself too slow (<see cref="DrainEngine.StandingDown"/>): it checkpointed what it had
    /// settled and released the partition for a healthy instance; data remains.
    /// </summary>
    StoodDown,
}

public sealed record DrainResult(int Partition, DrainEnd End, long Events, long Items, long DeadLettered, LogPosition Checkpoint)
{
    /// <summary>True when data is known to remain and the job should be continued at once.</summary>
    public bool LagRemains => End is DrainEnd.BudgetExhausted or DrainEnd.StoodDown;
}

/// <summary>
/// Drains partitions, one <see cref="PartitionSession"/> per claim: claim its lease → fence its
/// checkpoint → read after the checkpoint in batches → process each event → checkpoint → repeat
/// until idle or out of budget → release. The engine holds what outlives a claim (stores, options,
/// the memory budget, totals) and makes sure one process never runs two claims of a partition.
/// At-least-once: the checkpoint moves only past events that were delivered or dead-lettered.
/// The lease is renewed on its own loop; when it is lost the drain stops without another write
/// (every checkpoint update is conditional on the row's ETag, so a stalled drainer cannot write).
/// </summary>
public sealed class DrainEngine
{
    private readonly IPartitionedLog _log;
    private readonly CheckpointStore _checkpoints;
    private readonly LeaseStore _leases;
    private readonly IEventProcessor _processor;
    private readonly DeadLetterStore _deadLetters;
    private readonly DrainOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly DrainMemoryBudget _memory;
    private readonly DrainMetrics _metrics;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, byte> _draining = new();
    private long _eventsTotal;
    private long _itemsTotal;
    private long _deadLetteredTotal;

    public DrainEngine(IPartitionedLog log, CheckpointStore checkpoints, LeaseStore leases, IEventProcessor processor, DeadLetterStore deadLetters, DrainOptions options, ILogger<DrainEngine>? logger = null, TimeProvider? time = null, DrainMemoryBudget? memory = null, DrainMetrics? metrics = null)
    {
        options.Validate();
        _log = log;
        _checkpoints = checkpoints;
        _leases = leases;
        _processor = processor;
        _deadLetters = deadLetters;
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        _memory = memory ?? new DrainMemoryBudget(options.MemoryBudgetBytes);
        _metrics = metrics ?? SharedMetrics;
    }

    /// <summary>One meter for the engines of a process that are not handed theirs (replay cursors make their own engines).</summary>
    private static readonly DrainMetrics SharedMetrics = new();

    /// <summary>The byte budget this engine's reads are taken from (shared with the process's other drains).</summary>
    public DrainMemoryBudget Memory => _memory;

    /// <summary>The node's recorders of queue wait and end-to-end latency for the performance model.</summary>
    public NodePerformance? Performance { get; init; }

    public DrainOptions Options => _options;

    public IPartitionedLog Log => _log;

    public long EventsTotal => Interlocked.Read(ref _eventsTotal);

    public long ItemsTotal => Interlocked.Read(ref _itemsTotal);

    public long DeadLetteredTotal => Interlocked.Read(ref _deadLetteredTotal);

    internal CheckpointStore Checkpoints => _checkpoints;

    internal LeaseStore Leases => _leases;

    internal IEventProcessor Processor => _processor;

    internal DeadLetterStore DeadLetters => _deadLetters;

    internal ILogger Logger => _logger;

    internal TimeProvider Time => _time;

    internal DrainMetrics Metrics => _metrics;

    /// <summary>Adds a finished session's counts to the engine's totals.</summary>
    internal void Count(long events, long items, long deadLettered)
    {
        Interlocked.Add(ref _eventsTotal, events);
        Interlocked.Add(ref _itemsTotal, items);
        Interlocked.Add(ref _deadLetteredTotal, deadLettered);
    }

    /// <summary>
    /// When it answers true (the node's failure detector judged it slow), no partition is claimed and
    /// running drains end at their next batch boundary (<see cref="DrainEnd.StoodDown"/>).
    /// </summary>
    public Func<bool>? StandingDown { get; set; }

    /// <summary>Runs one drain job for <paramref name="partition"/>.</summary>
    /// <param name="keepAlive">When true (the local runner), the job does not end on its time budget while data keeps arriving.</param>
    public Task<DrainResult> DrainAsync(int partition, bool keepAlive = false, CancellationToken cancellationToken = default) =>
        DrainAsync(partition, keepAlive, stopAt: null, cancellationToken);

    /// <summary>Runs one drain job for <paramref name="partition"/>, optionally bounded.</summary>
    /// <param name="keepAlive">When true (the local runner), the job does not end on its time budget while data keeps arriving.</param>
    /// <param name="stopAt">
    /// For a replay cursor: events at or after this position are left alone; the checkpoint moves
    /// to it and the job ends with <see cref="DrainEnd.ReachedEnd"/>. Everything before it was
    /// settled by the live drain once, so corrupt records there are not dead-lettered again.
    /// </param>
    public async Task<DrainResult> DrainAsync(int partition, bool keepAlive, LogPosition? stopAt, CancellationToken cancellationToken = default)
    {
        // The lease lets its owner claim it again (a restarted drain resumes at once), and every drain of
        // this process has the same owner id: a second job for a partition this process is draining
        // (a Functions instance runs up to 8) must not take the lease from the first.
        if (StandingDown?.Invoke() == true || !_draining.TryAdd(partition, 0))
        {
            return new DrainResult(partition, DrainEnd.NotClaimed, 0, 0, 0, LogPosition.Start);
        }

        try
        {
            return await PartitionSession.RunAsync(this, partition, keepAlive, stopAt, cancellationToken);
        }
        finally
        {
            _draining.TryRemove(partition, out _);
        }
    }
}
