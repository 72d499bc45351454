using Microsoft.Extensions.Logging;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Functions;

/// <summary>What the function classes call: the shared processing code, wired once per worker.</summary>
public sealed class ProcessingRuntime
{
    private static readonly string Version = typeof(ProcessingRuntime).Assembly.GetName().Version?.ToString() ?? "0";
    private readonly DateTimeOffset _started = DateTimeOffset.UtcNow;
    private readonly FunctionsOptions _options;
    private long _healthSweepDue;
    private long _retryStoreDue;
    private long _heartbeatDue;

    public ProcessingRuntime(ProcessingServices services, IDrainJobQueue jobs, FunctionsOptions options, HealthOptions health)
    {
        Services = services;
        Jobs = jobs;
        Health = health;
        _options = options;
        Dispatcher = services.CreateDispatcher(jobs);
        Replay = new TenantReplay(services);
        HealthSweep = services.CreateHealthSweep(health);
        Retention = new RetentionSweep(services.Log, services.Checkpoints, services.Drain, options.Retention);
        _isSlow = services.StandDownWhenSlow(health);
    }

    private readonly Func<bool> _isSlow;

    /// <summary>The failure detector's verdict on this instance's own local work (<see cref="HealthOptions.ResponseTimeout"/>): it then claims nothing and hands back what it drains.</summary>
    public bool IsSlow() => _isSlow();

    public ProcessingServices Services { get; }

    public IDrainJobQueue Jobs { get; }

    public HealthOptions Health { get; }

    public Dispatcher Dispatcher { get; }

    /// <summary>Tenant replay cursors: started by the admin replay, drained by <c>Drain</c>.</summary>
    public TenantReplay Replay { get; }

    public HealthSweep HealthSweep { get; }

    public RetentionSweep Retention { get; }

    /// <summary>
    /// What a drain that ended idle waits, after releasing its lease, before it re-reads the log end:
    /// <see cref="DrainWakeup.Horizon"/>, the time a gateway trusts that it saw the lease held.
    /// Tests hand in their own gate.
    /// </summary>
    internal Func<CancellationToken, Task> WaitBeforeRecheck { get; set; } = ct => Task.Delay(DrainWakeup.Horizon, ct);

    /// <summary>
    /// Maintenance that rides on drains which run anyway, each at most once per its period per
    /// instance: the failure detector and the retry store. The Maintenance timer is their safety net
    /// when nothing drains; an idle app runs neither.
    /// </summary>
    public async Task<(HealthSweep.SweepResult? Health, int? RetriesSettled)> MaintainIfDueAsync(CancellationToken cancellationToken = default)
    {
        var time = Services.Time;
        HealthSweep.SweepResult? sweep = null;
        int? settled = null;
        if (IsDue(ref _healthSweepDue, _options.HealthSweepPeriod, time))
        {
            sweep = await HealthSweep.SweepAsync(cancellationToken);
        }

        if (IsDue(ref _retryStoreDue, _options.RetryStorePeriod, time))
        {
            settled = await Services.RetryDrainer.DrainOnceAsync(cancellationToken);
        }

        return (sweep, settled);
    }

    /// <summary>Writes this worker's heartbeat unless another drain of this instance wrote it within <paramref name="period"/>.</summary>
    public Task HeartbeatIfDueAsync(TimeSpan period, CancellationToken cancellationToken = default) =>
        IsDue(ref _heartbeatDue, period, Services.Time) ? HeartbeatAsync(cancellationToken) : Task.CompletedTask;

    /// <summary>True (and the next due time set) when <paramref name="due"/> has passed; one caller wins a race.</summary>
    private static bool IsDue(ref long due, TimeSpan period, TimeProvider time)
    {
        long now = time.GetTimestamp();
        long current = Volatile.Read(ref due);
        return now >= current
            && Interlocked.CompareExchange(ref due, now + (long)(period.TotalSeconds * time.TimestampFrequency), current) == current;
    }

    /// <summary>This worker's heartbeat (role <c>functions</c>); its id is the lease owner id, so the failure detector can expire its leases.</summary>
    public Task HeartbeatAsync(CancellationToken cancellationToken = default)
    {
        return Services.Nodes.HeartbeatAsync(
            DrainWorkerHeartbeat.Create(Services, NodeRoles.Functions, Version, _started, IsSlow() ? NodeStatus.Suspect : NodeStatus.Alive),
            cancellationToken);
    }
}

/// <summary>
/// Creates the <see cref="ProcessingRuntime"/> on first use and keeps it (a singleton). Unlike a
/// <c>Lazy&lt;Task&gt;</c>, a failed creation (storage briefly unreachable at cold start) is
/// retried by the next invocation instead of being cached.
/// </summary>
public sealed class ProcessingHost
{
    private readonly Func<CancellationToken, Task<ProcessingServices>> _createServices;
    private readonly Func<ProcessingServices, IDrainJobQueue> _createJobs;
    private readonly FunctionsOptions _options;
    private readonly HealthOptions _health;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ProcessingRuntime? _runtime;

    /// <summary>As deployed: the services from the shared composition, drain jobs on the storage queue.</summary>
    public ProcessingHost(ServerlessOtlp.Hosting.ProcessingServicesProvider provider, FunctionsOptions options, HealthOptions health)
        : this(ct => provider.GetAsync(ct).AsTask(), services => services.CreateQueueJobs(), options, health)
    {
    }

    public ProcessingHost(
        Func<CancellationToken, Task<ProcessingServices>> createServices,
        Func<ProcessingServices, IDrainJobQueue> createJobs,
        FunctionsOptions options,
        HealthOptions health)
    {
        _createServices = createServices;
        _createJobs = createJobs;
        _options = options;
        _health = health;
    }

    public async ValueTask<ProcessingRuntime> GetAsync(CancellationToken cancellationToken = default)
    {
        if (Volatile.Read(ref _runtime) is { } ready)
        {
            return ready;
        }

        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_runtime == null)
            {
                var services = await _createServices(cancellationToken);
                services.Loggers.CreateLogger<ProcessingHost>().LogInformation(
                    "Processing {Log} ({Partitions} partitions, consumer group {Group}) on {Storage} as {Owner}",
                    services.Log.Name, services.Log.PartitionCount, services.Drain.ConsumerGroup, services.Storage.Description, services.Drain.OwnerId);
                Volatile.Write(ref _runtime, new ProcessingRuntime(services, _createJobs(services), _options, _health));
            }

            return _runtime!;
        }
        finally
        {
            _gate.Release();
        }
    }
}
