using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ServerlessOtlp.Export;
using ServerlessOtlp.Export.Egress;
using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Export.Secrets;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Log;
using ServerlessOtlp.Performance;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Processing;

/// <summary>
/// Everything the processing side needs, as the composition (<see cref="ProcessingComposition"/>) registered
/// it: the Functions app, otlpctl's runner and the tests read the same components, so there is one drain.
/// </summary>
public sealed class ProcessingServices
{
    /// <summary>Built by the composition (<see cref="ProcessingComposition"/>) from the components it registered; nothing is created here.</summary>
    internal ProcessingServices(IServiceProvider components)
    {
        var settings = components.GetRequiredService<ProcessingSettings>();
        Log = components.GetRequiredService<IPartitionedLog>();
        Time = components.GetRequiredService<TimeProvider>();
        Storage = components.GetRequiredService<StorageClients>();
        Tenants = components.GetRequiredService<ITenantDirectory>();
        Drain = settings.Drain;
        ExportSettings = settings.Export;
        Loggers = components.GetRequiredService<ILoggerFactory>();
        Checkpoints = components.GetRequiredService<CheckpointStore>();
        Leases = components.GetRequiredService<LeaseStore>();
        Nodes = components.GetRequiredService<NodeStore>();
        DeadLetters = components.GetRequiredService<DeadLetterStore>();
        PartitionState = components.GetRequiredService<PartitionStateStore>();
        RetryStore = components.GetRequiredService<RetryStore>();
        Performance = components.GetRequiredService<NodePerformance>();
        Exporter = components.GetRequiredService<ResilientExporter>();
        RetryDrainer = components.GetRequiredService<RetryStoreDrainer>();
        Processor = components.GetRequiredService<IEventProcessor>();
        LocalWork = components.GetRequiredService<TenantEventProcessor>().LocalWork;
        Engine = components.GetRequiredService<DrainEngine>();
    }

    /// <summary>This process's drain-side figures for the performance model, carried by its heartbeat.</summary>
    internal NodePerformance Performance { get; }

    public IPartitionedLog Log { get; }

    /// <summary>The clock of the drain, its export pipelines, the retry store and the local runner's timers (a fake one in tests).</summary>
    public TimeProvider Time { get; }

    public ExportSettings ExportSettings { get; }

    /// <summary>The exporters behind their per-(tenant, destination) resilience pipelines, shared by the drain, the retry drainer and redrive.</summary>
    internal ResilientExporter Exporter { get; }

    /// <summary>Per-partition exporter state snapshots referenced from checkpoints (container <c>drain-state</c>).</summary>
    internal PartitionStateStore PartitionState { get; }

    /// <summary>Batches parked after the inline retry budget (container <c>retry</c>).</summary>
    public RetryStore RetryStore { get; }

    /// <summary>Re-sends the retry store; the local runner and a Functions timer call <see cref="RetryStoreDrainer.DrainOnceAsync"/>.</summary>
    public RetryStoreDrainer RetryDrainer { get; }

    public StorageClients Storage { get; }

    internal ITenantDirectory Tenants { get; }

    public DrainOptions Drain { get; }

    public CheckpointStore Checkpoints { get; }

    public LeaseStore Leases { get; }

    public NodeStore Nodes { get; }

    public DeadLetterStore DeadLetters { get; }

    internal IEventProcessor Processor { get; }

    public DrainEngine Engine { get; }

    public ILoggerFactory Loggers { get; }

    /// <summary>Creates the services and the tables and containers they use.</summary>
    public static Task<ProcessingServices> CreateAsync(IPartitionedLog log, StorageClients storage, ITenantDirectory tenants, DrainOptions drain, ILoggerFactory loggers, CancellationToken cancellationToken = default) =>
        CreateAsync(log, storage, tenants, drain, loggers, new ExportSettings(), cancellationToken);

    /// <summary>Creates the services and the tables and containers they use, with export settings (resilience, retry store, secrets).</summary>
    public static Task<ProcessingServices> CreateAsync(IPartitionedLog log, StorageClients storage, ITenantDirectory tenants, DrainOptions drain, ILoggerFactory loggers, ExportSettings export, CancellationToken cancellationToken = default) =>
        CreateAsync(log, storage, tenants, drain, loggers, export, TimeProvider.System, cancellationToken);

    /// <summary>
    /// As above, on a given clock: the composition's own registrations (<see cref="ProcessingComposition.AddProcessingComponents"/>)
    /// over the given log, storage and tenants, with these settings instead of configuration (tests and benchmarks).
    /// </summary>
    public static async Task<ProcessingServices> CreateAsync(IPartitionedLog log, StorageClients storage, ITenantDirectory tenants, DrainOptions drain, ILoggerFactory loggers, ExportSettings export, TimeProvider time, CancellationToken cancellationToken = default)
    {
        // Every component here is a singleton over instances the caller owns and disposes: the container holds nothing to dispose.
        var components = new ServiceCollection()
            .AddSingleton(log)
            .AddSingleton(storage)
            .AddSingleton(tenants)
            .AddSingleton(loggers)
            .AddSingleton(time)
            .AddSingleton(new ProcessingSettings(drain, export))
            .AddProcessingComponents()
            .BuildServiceProvider();
        await components.StartServerlessOtlpAsync(cancellationToken);
        return components.GetRequiredService<ProcessingServices>();
    }

    /// <summary>The tenant pipeline over a given view of the tenants (otlpctl's redrive narrows it to one destination).</summary>
    internal IEventProcessor CreateProcessor(ITenantDirectory tenants) => CreateTenantProcessor(tenants);

    private TenantEventProcessor CreateTenantProcessor(ITenantDirectory tenants) =>
        ProcessingComposition.TenantProcessor(tenants, Exporter, DeadLetters, RetryStore, PartitionState, Performance, Loggers, Time);

    /// <summary>
    /// An exporter of every destination kind of this build (<see cref="DestinationKinds"/>), sharing
    /// one set of connections behind the egress policy and one header resolver (secrets, pinned headers).
    /// </summary>
    /// <param name="time">The clock of the secret migration window and of the exporters.</param>
    internal static IReadOnlyList<IDestinationExporter> DefaultExporters(ExportSettings? settings = null, TimeProvider? time = null)
    {
        settings ??= new ExportSettings();
        time ??= TimeProvider.System;
        var egress = new EgressClients(new EgressPolicy(settings.Egress));
        var services = new DestinationServices(egress, new DestinationHeaders(settings.Secrets, egress.Policy, settings.SecretMigration, time), settings, time);
        return [.. DestinationKinds.Factories.Select(f => f.CreateExporter(services))];
    }

    public Dispatcher CreateDispatcher(IDrainJobQueue jobs) =>
        new(Log, Checkpoints, Leases, jobs, Drain, Loggers.CreateLogger<Dispatcher>());

    public HealthSweep CreateHealthSweep(HealthOptions options) =>
        new(Nodes, Leases, Log, Drain, options, Loggers.CreateLogger<HealthSweep>());

    public StorageQueueDrainJobs CreateQueueJobs() => StorageQueueDrainJobs.For(Storage, Log.Name, Drain.ConsumerGroup);

    /// <summary>The drain's measurement of its own local work per event, for the failure detector and the heartbeat.</summary>
    internal LocalResponseTime LocalWork { get; }

    /// <summary>
    /// The failure detector's verdict on this process's local work against <see cref="HealthOptions.ResponseTimeout"/>;
    /// the engine stands down while it holds. Returned for the host's heartbeat.
    /// </summary>
    public Func<bool> StandDownWhenSlow(HealthOptions health)
    {
        var work = LocalWork;
        Func<bool> slow = () => work.Exceeds(health.ResponseTimeout);
        Engine.StandingDown = slow;
        return slow;
    }

    /// <summary>Moves a partition's checkpoint back (or forward) to a time or position; audited in the checkpoint row.</summary>
    public async Task<ReplayAudit> ReplayAsync(int partition, DateTimeOffset? from, long? position, string by, CancellationToken cancellationToken = default)
    {
        var target = await PositionAsync(partition, from, position, cancellationToken);
        return await Checkpoints.ReplayAsync(Log.Name, Drain.ConsumerGroup, partition, target.Value, by, cancellationToken);
    }

    /// <summary>Where <see cref="ReplayAsync"/> would move a checkpoint from and to, moving nothing (<c>otlpctl replay --dry-run</c>).</summary>
    public async Task<(long From, long To)> PlanReplayAsync(int partition, DateTimeOffset? from, long? position, CancellationToken cancellationToken = default)
    {
        var target = await PositionAsync(partition, from, position, cancellationToken);
        var current = await Checkpoints.ReadAsync(Log.Name, Drain.ConsumerGroup, partition, cancellationToken);
        return (current.Position, target.Value);
    }

    /// <summary>A replay's start: the position given, or the first event received at or after the time (looked up on a side reader).</summary>
    /// <exception cref="ArgumentException">Neither a time nor a position was given.</exception>
    internal async Task<LogPosition> PositionAsync(int partition, DateTimeOffset? from, long? position, CancellationToken cancellationToken)
    {
        if (position is long p)
        {
            return new LogPosition(p);
        }

        if (from is not { } time)
        {
            throw new ArgumentException("give a time or a position");
        }

        var reader = SideReader();
        try
        {
            return await reader.FindPositionAsync(partition, time, cancellationToken);
        }
        finally
        {
            await ReleaseSideReaderAsync(reader);
        }
    }

    /// <summary>A reader beside the running drains (<see cref="IPartitionedLog.OpenSideReader"/>), so that it never disturbs theirs.</summary>
    internal IPartitionedLog SideReader() => Log.OpenSideReader();

    /// <summary>Closes what <see cref="SideReader"/> opened (its Event Hubs links); the shared log, which a log may hand out as its own side reader, is not ours to dispose.</summary>
    internal ValueTask ReleaseSideReaderAsync(IPartitionedLog reader) =>
        ReferenceEquals(reader, Log) ? ValueTask.CompletedTask : reader.DisposeAsync();
}

/// <summary>
/// How the processing side exports: resilience defaults, the retry store, where <c>secret:NAME</c>
/// headers come from, where exporters may connect and where file destinations may write. The
/// defaults are a deployment's: public addresses only, no file destinations without a root.
/// </summary>
public sealed record ExportSettings
{
    public ExportResilienceOptions Resilience { get; init; } = new();

    public RetryStoreOptions RetryStore { get; init; } = new();

    public ISecretResolver? Secrets { get; init; }

    public SecretMigrationOptions SecretMigration { get; init; } = new();

    public EgressOptions Egress { get; init; } = new();

    public FileExportOptions Files { get; init; } = new();

    /// <summary>
    /// A deployment's settings: secrets from configuration and Key Vault (<c>ServerlessOtlp:KeyVault:Uri</c>),
    /// <c>ServerlessOtlp:SecretMigration</c>, <c>ServerlessOtlp:Egress</c>, <c>ServerlessOtlp:Export</c>,
    /// <c>ServerlessOtlp:RetryStore</c>. Throws <see cref="InvalidOperationException"/> naming a setting that does not parse.
    /// </summary>
    public static ExportSettings FromConfiguration(IConfiguration configuration) => new()
    {
        RetryStore = RetryStoreOptions.FromConfiguration(configuration),
        Secrets = KeyVaultSecretResolver.For(configuration),
        SecretMigration = SecretMigrationOptions.FromConfiguration(configuration),
        Egress = EgressOptions.FromConfiguration(configuration),
        Files = FileExportOptions.FromConfiguration(configuration),
    };

    /// <summary>
    /// These settings on a developer's machine (<c>otlpctl dev</c>): loopback and private networks
    /// allowed as well, since local backends are the point there, and without a file root any
    /// destination path as written, since its operator writes every tenant file.
    /// </summary>
    public ExportSettings ForLocalDevelopment() => this with
    {
        Egress = Egress.WithLocalNetworks(),
        Files = Files with { AnyPathWithoutRoot = true },
    };
}
