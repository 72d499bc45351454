using ServerlessOtlp.Gateway;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Log;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;

// The container entry point: settings from configuration (appsettings.json, ServerlessOtlp__* environment variables).
var configuration = new ConfigurationBuilder()
    .AddJsonFile("appsettings.json", optional: true)
    .AddEnvironmentVariables()
    .AddCommandLine(args)
    .Build();

var options = configuration.GetSection(GatewayOptions.Section).Get<GatewayOptions>() ?? new GatewayOptions();
var storageOptions = configuration.GetSection(StorageOptions.Section).Get<StorageOptions>() ?? new StorageOptions();
var logOptions = configuration.GetSection(LogOptions.Section).Get<LogOptions>() ?? new LogOptions();

using var loggers = LoggerFactory.Create(b => b.AddConfiguration(configuration.GetSection("Logging")).AddSimpleConsole(o => o.SingleLine = true));
var storage = new StorageClients(storageOptions);
var log = PartitionedLogFactory.Create(logOptions, storage, loggers);
await log.OpenAsync();
var tenantStore = new TenantStore(storage.Tables, storage.Names.Tenants, storage.Blobs.GetBlobContainerClient(storage.Names.TenantContainer), keys: ApiKeyHasher.FromConfiguration(configuration));
var directory = new TenantDirectory(tenantStore);
var nodes = new NodeStore(storage.Tables, storage.Names.Nodes);

// Push-started drains: the leases say whether a partition is drained; the markers and the queue are the Functions app's.
using var wakeup = options.PushDrainJobs ? CreateWakeup() : null;

var agents = new AgentStore(storage.Tables, storage.Names.Agents); // the agents table is created by the Bicep (and otlpctl dev)
var app = GatewayHost.Build(options, new GatewayDependencies(log, directory, nodes, new LimitDemandStore(storage.Tables, storage.Names.Nodes), agents, wakeup), args);
await app.RunAsync();
await log.DisposeAsync();

DrainWakeup CreateWakeup()
{
    string group = DrainOptions.LiveConsumerGroup(log, configuration[$"{DrainOptions.Section}:ConsumerGroup"] ?? new DrainOptions().ConsumerGroup);
    var jobs = StorageQueueDrainJobs.For(storage, log.Name, group);
    return new DrainWakeup(new LeaseStore(storage.Tables, storage.Names.Leases), jobs, log.Name, group, log.PartitionCount, TimeProvider.System, loggers.CreateLogger<DrainWakeup>());
}
