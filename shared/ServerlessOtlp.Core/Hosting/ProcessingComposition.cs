using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ServerlessOtlp.Export;
using ServerlessOtlp.Log;
using ServerlessOtlp.Performance;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Hosting;

/// <summary>
/// The processing side's composition, shared by the Functions app, <c>otlpctl</c> and the tests: every
/// component a registration (one registered before is used instead), every options section bound by the
/// source generator and validated at start, and the asynchronous start — the log opened, the tables,
/// containers and the drain-jobs queue created — run once behind <see cref="ProcessingServicesProvider"/>.
/// </summary>
public static class ProcessingComposition
{
    /// <summary>
    /// Storage, the log and the tenants as every host has them (<see cref="ServerlessOtlpComposition"/>), and
    /// <c>ServerlessOtlp:Drain</c>, <c>:Health</c>, <c>:Export</c> and <c>:RetryStore</c> with validation on
    /// start; then the drain's components and <see cref="ProcessingServicesProvider"/>.
    /// </summary>
    public static IServiceCollection AddServerlessOtlpProcessing(this IServiceCollection services, IConfiguration configuration)
    {
        if (services.Registers<ProcessingServicesProvider>())
        {
            return services; // composed already: a second call would repeat the start steps and the validators
        }

        services.AddServerlessOtlpStorage(configuration)
            .AddServerlessOtlpLog(configuration)
            .AddServerlessOtlpTenants(createTables: true);
        services.AddOptions<DrainOptions>().Bind(configuration.GetSection(DrainOptions.Section)).ValidateWith(DrainOptions.Section, DrainProblem);
        services.AddOptions<HealthOptions>().Bind(configuration.GetSection(HealthOptions.Section)).ValidateWith(HealthOptions.Section, HealthProblem);
        services.AddOptions<ExportResilienceOptions>().Bind(configuration.GetSection(ExportResilienceOptions.Section)).ValidateWith(ExportResilienceOptions.Section, ResilienceProblem);
        services.AddOptions<RetryStoreOptions>().Bind(configuration.GetSection(RetryStoreOptions.Section)).ValidateWith(RetryStoreOptions.Section, RetryStoreProblem);

        // Egress policy, file root, secrets (in the tenant's namespace) and the migration window, from the same configuration.
        services.TryAddSingleton(_ => ExportSettings.FromConfiguration(configuration));
        services.TryAddSingleton(sp =>
        {
            // Checkpoints and leases are keyed by the consumer group the receivers read in.
            var drain = sp.GetRequiredService<IOptions<DrainOptions>>().Value;
            drain = drain.ForConsumerGroup(DrainOptions.LiveConsumerGroup(sp.GetRequiredService<IPartitionedLog>(), drain.ConsumerGroup));
            var export = sp.GetRequiredService<ExportSettings>() with
            {
                Resilience = sp.GetRequiredService<IOptions<ExportResilienceOptions>>().Value,
                RetryStore = sp.GetRequiredService<IOptions<RetryStoreOptions>>().Value,
            };
            return new ProcessingSettings(drain, export);
        });
        services.AddProcessingComponents();
        services.Startup().Add((sp, ct) =>
        {
            var storage = sp.GetRequiredService<StorageClients>();
            return storage.Queues.GetQueueClient(storage.Names.DrainJobs).CreateIfNotExistsAsync(cancellationToken: ct);
        });
        services.TryAddSingleton<ProcessingServicesProvider>();
        return services;
    }

    /// <summary>
    /// The drain's components over a registered log, <see cref="StorageClients"/>, <see cref="ITenantDirectory"/>
    /// and <see cref="ProcessingSettings"/>: the stores (created at start), the resilient exporters, the retry
    /// drainer, the tenant pipeline, the engine, and the <see cref="ProcessingServices"/> that hands them to hosts.
    /// </summary>
    internal static IServiceCollection AddProcessingComponents(this IServiceCollection services)
    {
        if (services.Registers<ProcessingServices>())
        {
            return services;
        }

        services.AddLogging();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new CheckpointStore(Storage(sp).Tables, Storage(sp).Names.Checkpoints));
        services.TryAddSingleton(sp => new LeaseStore(Storage(sp).Tables, Storage(sp).Names.Leases));
        services.TryAddSingleton(sp => new NodeStore(Storage(sp).Tables, Storage(sp).Names.Nodes));
        services.TryAddSingleton(sp => new DeadLetterStore(Container(sp, n => n.DeadLetterContainer)));
        services.TryAddSingleton(sp => new PartitionStateStore(Container(sp, n => n.PartitionStateContainer)));
        services.TryAddSingleton(sp => new RetryStore(Container(sp, n => n.RetryContainer), Time(sp)));
        services.Startup().Add((sp, ct) => Task.WhenAll(
            sp.GetRequiredService<CheckpointStore>().EnsureCreatedAsync(ct),
            sp.GetRequiredService<LeaseStore>().EnsureCreatedAsync(ct),
            sp.GetRequiredService<NodeStore>().EnsureCreatedAsync(ct),
            sp.GetRequiredService<DeadLetterStore>().EnsureCreatedAsync(ct),
            sp.GetRequiredService<RetryStore>().EnsureCreatedAsync(ct),
            sp.GetRequiredService<PartitionStateStore>().EnsureCreatedAsync(ct)));
        return services.AddDrainComponents();
    }

    /// <summary>The exporters behind their resilience pipelines, the retry drainer, the tenant pipeline, the engine and the facade over them.</summary>
    private static IServiceCollection AddDrainComponents(this IServiceCollection services)
    {
        services.TryAddSingleton(sp => NodePerformance.ForDrains(Time(sp)));
        services.TryAddSingleton(sp =>
        {
            var export = Settings(sp).Export;
            return new ResilientExporter(ProcessingServices.DefaultExporters(export, Time(sp)), export.Resilience, Time(sp), sp.GetRequiredService<ILogger<ResilientExporter>>())
            {
                Performance = sp.GetRequiredService<NodePerformance>()[PerformanceComponents.Export],
            };
        });
        services.TryAddSingleton(sp => new RetryStoreDrainer(
            sp.GetRequiredService<RetryStore>(), sp.GetRequiredService<ResilientExporter>(), sp.GetRequiredService<ITenantDirectory>(),
            sp.GetRequiredService<DeadLetterStore>(), Settings(sp).Export.RetryStore, Time(sp), sp.GetRequiredService<ILogger<RetryStoreDrainer>>()));
        services.TryAddSingleton(sp => TenantProcessor(
            sp.GetRequiredService<ITenantDirectory>(), sp.GetRequiredService<ResilientExporter>(), sp.GetRequiredService<DeadLetterStore>(),
            sp.GetRequiredService<RetryStore>(), sp.GetRequiredService<PartitionStateStore>(), sp.GetRequiredService<NodePerformance>(),
            sp.GetRequiredService<ILoggerFactory>(), Time(sp)));
        services.TryAddSingleton<IEventProcessor>(sp => sp.GetRequiredService<TenantEventProcessor>());
        services.TryAddSingleton(sp => new DrainEngine(
            sp.GetRequiredService<IPartitionedLog>(), sp.GetRequiredService<CheckpointStore>(), sp.GetRequiredService<LeaseStore>(),
            sp.GetRequiredService<IEventProcessor>(), sp.GetRequiredService<DeadLetterStore>(), Settings(sp).Drain,
            sp.GetRequiredService<ILogger<DrainEngine>>(), Time(sp))
        {
            Performance = sp.GetRequiredService<NodePerformance>(),
        });
        services.TryAddSingleton(sp => new ProcessingServices(sp));
        return services;
    }

    /// <summary>The tenant pipeline over a view of the tenants: the drain's, or <c>otlpctl</c> redrive's narrowed to one destination.</summary>
    internal static TenantEventProcessor TenantProcessor(
        ITenantDirectory tenants, ResilientExporter exporter, DeadLetterStore deadLetters, RetryStore retryStore,
        PartitionStateStore partitionState, NodePerformance performance, ILoggerFactory loggers, TimeProvider time) =>
        new(tenants, exporter, deadLetters, retryStore, loggers.CreateLogger<TenantEventProcessor>(), time, partitionState)
        {
            Performance = performance[PerformanceComponents.Drain],
        };

    private static StorageClients Storage(IServiceProvider sp) => sp.GetRequiredService<StorageClients>();

    private static Azure.Storage.Blobs.BlobContainerClient Container(IServiceProvider sp, Func<StorageNames, string> name)
    {
        var storage = Storage(sp);
        return storage.Blobs.GetBlobContainerClient(name(storage.Names));
    }

    private static TimeProvider Time(IServiceProvider sp) => sp.GetRequiredService<TimeProvider>();

    private static ProcessingSettings Settings(IServiceProvider sp) => sp.GetRequiredService<ProcessingSettings>();

    internal static string? DrainProblem(DrainOptions o)
    {
        try
        {
            o.Validate();
            return null;
        }
        catch (InvalidOperationException ex)
        {
            return ex.Message;
        }
    }

    internal static string? HealthProblem(HealthOptions o) => o.Problem();

    internal static string? ResilienceProblem(ExportResilienceOptions o) =>
        o.AttemptTimeout <= TimeSpan.Zero || o.InitialInterval <= TimeSpan.Zero || o.MaxInterval < o.InitialInterval ? "AttemptTimeout and InitialInterval must be positive, MaxInterval at least InitialInterval"
        : o.InlineBudget < TimeSpan.Zero || o.InlineBudget > ExportResilienceOptions.MaxInlineBudget ? $"InlineBudget must be 0 to {ExportResilienceOptions.MaxInlineBudget.TotalSeconds:0} s (it runs inside the drain's export cap)"
        : o.BreakerFailureRatio is <= 0 or > 1 || o.BreakerMinimumThroughput < 2 || o.BreakerSamplingDuration <= TimeSpan.Zero || o.BreakerBreakDuration <= TimeSpan.Zero ? "the breaker needs a failure ratio in (0, 1], a minimum throughput ≥ 2 and positive durations"
        : o.MaxConcurrency < 1 ? "MaxConcurrency must be ≥ 1"
        : null;

    internal static string? RetryStoreProblem(RetryStoreOptions o) =>
        o.MaxAge <= TimeSpan.Zero || o.MaxConcurrentDestinations < 1 ? "MaxAge must be positive and MaxConcurrentDestinations ≥ 1" : null;
}

/// <summary>The drain's settings in effect: its consumer group the log's live one, export resilience and the retry store bound from their sections.</summary>
internal sealed record ProcessingSettings(DrainOptions Drain, ExportSettings Export);
