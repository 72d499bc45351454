using Microsoft.Extensions.Logging;
using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Processing;

public sealed class LocalRunnerOptions
{
    public TimeSpan DispatchInterval { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan HealthInterval { get; set; } = TimeSpan.FromSeconds(5);

    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    public TimeSpan RetentionInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How often the retry store is re-sent.</summary>
    public TimeSpan RetryStoreInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Fully checkpointed blob-log segments older than this are deleted.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// Longest round of the dispatch, health-sweep and heartbeat loops. They only talk to storage;
    /// a request that hangs (the SDK waits 100 s, then retries) would otherwise hold up the next
    /// round, and with it the takeover of a dead runner's expired leases.
    /// </summary>
    public TimeSpan RoundTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest the final "stopped" heartbeat may take when the runner stops.</summary>
    public TimeSpan StopTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Partitions (and tenant replay cursors) drained at once by this process.</summary>
    public int MaxConcurrentDrains { get; set; } = 8;

    public HealthOptions Health { get; set; } = new();
}

/// <summary>
/// Runs the Functions' timers and queue worker in one process (Dispatch every second, Drain,
/// HealthSweep, Retention), through the same classes the Functions call. A drain keeps its
/// partition while data flows, so data moves continuously under load; a gateway in the same
/// process pushes jobs to <see cref="Jobs"/> when data arrives for a partition nobody drains.
/// </summary>
public sealed class LocalRunner
{
    private static readonly string Version = typeof(LocalRunner).Assembly.GetName().Version?.ToString() ?? "0";
    private readonly ProcessingServices _services;
    private readonly LocalRunnerOptions _options;
    private readonly ILogger _logger;
    private readonly InProcessDrainJobs _jobs = new();
    private readonly TenantReplay _replay;
    private readonly DateTimeOffset _started = DateTimeOffset.UtcNow;
    private readonly Func<bool> _isSlow;
    private int _activeDrains;
    private bool _wasSlow;

    public LocalRunner(ProcessingServices services, LocalRunnerOptions options)
    {
        _services = services;
        _options = options;
        _logger = services.Loggers.CreateLogger<LocalRunner>();
        _replay = new TenantReplay(services);
        _isSlow = services.StandDownWhenSlow(options.Health);
    }

    /// <summary>The failure detector's verdict on this runner's own local work (<see cref="HealthOptions.ResponseTimeout"/>).</summary>
    public bool IsSlow() => _isSlow();

    public int ActiveDrains => Volatile.Read(ref _activeDrains);

    /// <summary>Where this runner takes drain jobs from: a gateway in the same process pushes to it (<see cref="DrainWakeup"/>).</summary>
    public IDrainJobQueue Jobs => _jobs;

    public string NodeId => _services.Drain.OwnerId;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var dispatcher = _services.CreateDispatcher(_jobs);
        var health = _services.CreateHealthSweep(_options.Health);
        var retention = new RetentionSweep(_services.Log, _services.Checkpoints, _services.Drain, _options.Retention);
        var workers = Enumerable.Range(0, Math.Max(1, _options.MaxConcurrentDrains)).Select(_ => WorkerAsync(cancellationToken)).ToList();
        var loops = new[]
        {
            EveryAsync(_options.DispatchInterval, "dispatch", Bounded("dispatch", ct => dispatcher.DispatchAsync(ct)), cancellationToken),
            EveryAsync(_options.HealthInterval, "health sweep", Bounded("health sweep", ct => health.SweepAsync(ct)), cancellationToken),
            EveryAsync(_options.RetentionInterval, "retention", ct => retention.SweepAsync(ct), cancellationToken),
            EveryAsync(_options.RetryStoreInterval, "retry store", ct => _services.RetryDrainer.DrainOnceAsync(ct), cancellationToken),
            EveryAsync(_options.HeartbeatInterval, "heartbeat", Bounded("heartbeat", ct => HeartbeatAsync(NodeStatus.Alive, ct)), cancellationToken),
        };
        await Task.WhenAll(loops.Concat(workers));
        try
        {
            // Bounded: storage may be gone already (a process manager stopping the group); the
            // health sweep judges a node by its heartbeat's age anyway.
            using var final = new CancellationTokenSource(_options.StopTimeout);
            await HeartbeatAsync(NodeStatus.Stopped, final.Token);
        }
        catch (Exception ex)
        {
            _logger.LogWarning("Final heartbeat failed ({Reason})", ExceptionText.Summary(ex));
            _logger.LogDebug(ex, "Final heartbeat failed");
        }
    }

    private async Task WorkerAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var job in _jobs.Reader.ReadAllAsync(cancellationToken))
            {
                await _jobs.StartedAsync(job, cancellationToken);
                Interlocked.Increment(ref _activeDrains);
                try
                {
                    var result = job.Tenant is null
                        ? await _services.Engine.DrainAsync(job.Partition, keepAlive: true, cancellationToken)
                        : await _replay.DrainAsync(job, keepAlive: true, cancellationToken);
                    if (result is null)
                    {
                        continue;
                    }

                    if (result.End == DrainEnd.Idle && job.Tenant is null)
                    {
                        _ = RecheckAsync(result, cancellationToken);
                    }

                    if (result.Events > 0 || result.End is DrainEnd.RetryLater or DrainEnd.LeaseLost)
                    {
                        _logger.LogDebug("Partition {Partition}: {End} after {Events} events ({Items} items), checkpoint {Checkpoint}", result.Partition, result.End, result.Events, result.Items, result.Checkpoint);
                    }
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex)
                {
                    _logger.LogWarning("Drain of partition {Partition} failed ({Reason}); the dispatcher retries", job.Partition, ExceptionText.Summary(ex));
                    _logger.LogDebug(ex, "Drain of partition {Partition} failed", job.Partition);
                }
                finally
                {
                    Interlocked.Decrement(ref _activeDrains);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// The drain's half of the push hand-shake (<see cref="DrainWakeup"/>): what arrived while the drain was
    /// ending is drained now, not at the next dispatch. Off the worker, which takes the next job meanwhile.
    /// </summary>
    private async Task RecheckAsync(DrainResult result, CancellationToken cancellationToken)
    {
        try
        {
            if (await DrainWakeup.LagAfterReleaseAsync(_services.Log, result, ct => Task.Delay(DrainWakeup.Horizon, _services.Time, ct), cancellationToken))
            {
                await _jobs.TryEnqueueAsync(new DrainJob(result.Partition, "recheck"), TimeSpan.Zero, cancellationToken);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _logger.LogDebug(ex, "Re-reading partition {Partition} after its drain failed; the dispatcher picks it up", result.Partition);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>One round of <paramref name="action"/>, cut off after <see cref="LocalRunnerOptions.RoundTimeout"/>; the loop goes on with the next.</summary>
    private Func<CancellationToken, Task<T>> Bounded<T>(string what, Func<CancellationToken, Task<T>> action) => async cancellationToken =>
    {
        using var round = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        round.CancelAfter(_options.RoundTimeout);
        try
        {
            return await action(round.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"a {what} round took longer than {_options.RoundTimeout.TotalSeconds:0.#} s and was abandoned; storage is slow");
        }
    };

    private async Task EveryAsync<T>(TimeSpan period, string what, Func<CancellationToken, Task<T>> action, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(period, _services.Time);
        int failures = 0;
        try
        {
            do
            {
                try
                {
                    await action(cancellationToken);
                    if (failures > 0)
                    {
                        _logger.LogWarning("{What} works again after {Failures} failure(s) in a row", what, failures);
                        failures = 0;
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // One line for the 1st, 2nd, 4th, 8th… failure in a row, so an outage does not flood the log.
                    failures++;
                    if (ExceptionText.IsWorthALine(failures))
                    {
                        _logger.LogWarning("{What} failed ({Failures} in a row): {Reason}", what, failures, ExceptionText.Summary(ex));
                    }

                    _logger.LogDebug(ex, "{What} failed", what);
                }
            }
            while (await timer.WaitForNextTickAsync(cancellationToken));
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task<bool> HeartbeatAsync(string status, CancellationToken cancellationToken)
    {
        bool slow = IsSlow();
        if (slow != _wasSlow)
        {
            _wasSlow = slow;
            if (slow)
            {
                _logger.LogWarning("Local work averages {Average} ms per event, over {Timeout} s: suspect, handing back partitions", _services.LocalWork.Average?.TotalMilliseconds, _options.Health.ResponseTimeout.TotalSeconds);
            }
            else
            {
                _logger.LogWarning("Local work is back under {Timeout} s per event: alive, claiming partitions again", _options.Health.ResponseTimeout.TotalSeconds);
            }
        }

        if (slow && status == NodeStatus.Alive)
        {
            status = NodeStatus.Suspect;
        }

        await _services.Nodes.HeartbeatAsync(
            Hosting.DrainWorkerHeartbeat.Create(_services, NodeRoles.Runner, Version, _started, status, ActiveDrains),
            cancellationToken);
        return true;
    }
}
