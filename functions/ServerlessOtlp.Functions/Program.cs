using ServerlessOtlp.Export;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ServerlessOtlp.Functions;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Log;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;

var builder = FunctionsApplication.CreateBuilder(args);
var configuration = builder.Configuration;
var storageOptions = configuration.GetSection(StorageOptions.Section).Get<StorageOptions>() ?? new StorageOptions();
var logOptions = configuration.GetSection(LogOptions.Section).Get<LogOptions>() ?? new LogOptions();
var drainOptions = configuration.GetSection(DrainOptions.Section).Get<DrainOptions>() ?? new DrainOptions();
var healthOptions = configuration.GetSection(HealthOptions.Section).Get<HealthOptions>() ?? new HealthOptions();
var functionsOptions = configuration.GetSection(FunctionsOptions.Section).Get<FunctionsOptions>() ?? new FunctionsOptions();
if (string.Equals(logOptions.Kind, "eventhubs", StringComparison.OrdinalIgnoreCase))
{
    // Checkpoints and leases are keyed by the consumer group the receiver reads with.
    drainOptions.ConsumerGroup = logOptions.EventHubs.ConsumerGroup;
}

drainOptions.Validate();

builder.Services.AddSingleton(sp => new ProcessingHost(
    async cancellationToken =>
    {
        var loggers = sp.GetRequiredService<ILoggerFactory>();
        var storage = new StorageClients(storageOptions);
        var log = PartitionedLogFactory.Create(logOptions, storage, loggers);
        await log.OpenAsync(cancellationToken);
        var tenantStore = new TenantStore(storage.Tables, storage.Names.Tenants, storage.Blobs.GetBlobContainerClient(storage.Names.TenantContainer), keys: ApiKeyHasher.FromConfiguration(configuration));
        await tenantStore.EnsureCreatedAsync(cancellationToken);
        var export = ExportSettings.FromConfiguration(builder.Configuration);
        return await ProcessingServices.CreateAsync(log, storage, new TenantDirectory(tenantStore), drainOptions, loggers, export, cancellationToken);
    },
    services => services.CreateQueueJobs(),
    functionsOptions,
    healthOptions));

builder.Build().Run();
