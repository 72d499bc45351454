using Microsoft.Extensions.Logging;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Functions;

/// <summary>What the function classes call: the shared processing code, wired once per worker.</summary>
public sealed class ProcessingRuntime
{
    private static readonly string Version = typeof(ProcessingRuntime).Assembly.GetName().Version?.ToString() ?? "0";
    private readonly DateTimeOffset _started = DateTimeOffset.UtcNow;

    public ProcessingRuntime(ProcessingServices services, IDrainJobQueue jobs, FunctionsOptions options, HealthOptions health)
    {
        Services = services;
        Jobs = jobs;
        Health = health;
        Dispatcher = services.CreateDispatcher(jobs);
        Replay = new TenantReplay(services);
        HealthSweep = services.CreateHealthSweep(health);
        Retention = new RetentionSweep(services.Log, services.Checkpoints, services.Drain, options.Retention);
    }

    public ProcessingServices Services { get; }

    public IDrainJobQueue Jobs { get; }

    public HealthOptions Health { get; }

    public Dispatcher Dispatcher { get; }

    /// <summary>Tenant replay cursors: started by the admin replay, drained by <c>Drain</c>.</summary>
    public TenantReplay Replay { get; }

    public HealthSweep HealthSweep { get; }

    public RetentionSweep Retention { get; }

    /// <summary>This worker's heartbeat (role <c>functions</c>); its id is the lease owner id, so the failure detector can expire its leases.</summary>
    public Task HeartbeatAsync(CancellationToken cancellationToken = default)
    {
        var engine = Services.Engine;
        return Services.Nodes.HeartbeatAsync(
            new NodeHeartbeat(
                NodeRoles.Functions,
                Services.Drain.OwnerId,
                Version,
                Environment.MachineName,
                _started,
                NodeStatus.Alive,
                new Dictionary<string, long>
                {
                    ["events"] = engine.EventsTotal,
                    ["items"] = engine.ItemsTotal,
                    ["deadLettered"] = engine.DeadLetteredTotal,
                    ["memoryInUseBytes"] = engine.Memory.InUse,
                    ["memoryHighWaterBytes"] = engine.Memory.HighWaterMark,
                }),
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
