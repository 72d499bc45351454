using Microsoft.Extensions.Logging;
using ServerlessOtlp.Export;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Log;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Processing;

/// <summary>
/// Everything the processing side needs, wired once: the Functions app and the local runner
/// both build it here, so there is one drain implementation.
/// </summary>
public sealed class ProcessingServices
{
    private ProcessingServices(IPartitionedLog log, StorageClients storage, ITenantDirectory tenants, DrainOptions drain, ILoggerFactory loggers)
    {
        Log = log;
        Storage = storage;
        Tenants = tenants;
        Drain = drain;
        Checkpoints = new CheckpointStore(storage.Tables);
        Leases = new LeaseStore(storage.Tables);
        Nodes = new NodeStore(storage.Tables);
        DeadLetters = new DeadLetterStore(storage.Blobs.GetBlobContainerClient(StorageNames.DefaultDeadLetterContainer));
        Processor = new TenantEventProcessor(tenants, [new FileExporter()], DeadLetters, loggers.CreateLogger<TenantEventProcessor>());
        Engine = new DrainEngine(log, Checkpoints, Leases, Processor, DeadLetters, drain, loggers.CreateLogger<DrainEngine>());
        Loggers = loggers;
    }

    public IPartitionedLog Log { get; }

    public StorageClients Storage { get; }

    public ITenantDirectory Tenants { get; }

    public DrainOptions Drain { get; }

    public CheckpointStore Checkpoints { get; }

    public LeaseStore Leases { get; }

    public NodeStore Nodes { get; }

    public DeadLetterStore DeadLetters { get; }

    public IEventProcessor Processor { get; }

    public DrainEngine Engine { get; }

    public ILoggerFactory Loggers { get; }

    /// <summary>Creates the services and the tables and containers they use.</summary>
    public static async Task<ProcessingServices> CreateAsync(IPartitionedLog log, StorageClients storage, ITenantDirectory tenants, DrainOptions drain, ILoggerFactory loggers, CancellationToken cancellationToken = default)
    {
        var services = new ProcessingServices(log, storage, tenants, drain, loggers);
        await Task.WhenAll(
            services.Checkpoints.EnsureCreatedAsync(cancellationToken),
            services.Leases.EnsureCreatedAsync(cancellationToken),
            services.Nodes.EnsureCreatedAsync(cancellationToken),
            services.DeadLetters.EnsureCreatedAsync(cancellationToken));
        return services;
    }

    public Dispatcher CreateDispatcher(IDrainJobQueue jobs) =>
        new(Log, Checkpoints, Leases, jobs, Drain, Loggers.CreateLogger<Dispatcher>());

    public HealthSweep CreateHealthSweep(HealthOptions options) =>
        new(Nodes, Leases, Log, Drain, options, Loggers.CreateLogger<HealthSweep>());

    public StorageQueueDrainJobs CreateQueueJobs() =>
        new(Storage.Queues.GetQueueClient(StorageNames.DefaultDrainJobs), Storage.Tables.GetTableClient(StorageNames.DefaultLeases), Log.Name, Drain.ConsumerGroup);

    /// <summary>Moves a partition's checkpoint back (or forward) to a time or position; audited in the checkpoint row.</summary>
    public async Task<ReplayAudit> ReplayAsync(int partition, DateTimeOffset? from, long? position, string by, CancellationToken cancellationToken = default)
    {
        var target = position is long p ? new LogPosition(p)
            : from is { } time ? await Log.FindPositionAsync(partition, time, cancellationToken)
            : throw new ArgumentException("give a time or a position");
        return await Checkpoints.ReplayAsync(Log.Name, Drain.ConsumerGroup, partition, target.Value, by, cancellationToken);
    }
}
