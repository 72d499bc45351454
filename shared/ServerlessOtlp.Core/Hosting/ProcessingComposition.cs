using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ServerlessOtlp.Export;
using ServerlessOtlp.Log;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Hosting;

/// <summary>
/// The processing side's composition, shared by the Functions app and <c>otlpctl</c>'s runner: every
/// options section bound and validated at start, and one <see cref="ProcessingServicesProvider"/>.
/// </summary>
public static class ProcessingComposition
{
    /// <summary>
    /// Binds <c>ServerlessOtlp:Storage</c>, <c>:Log</c>, <c>:Drain</c>, <c>:Health</c>, <c>:Export</c> and
    /// <c>:RetryStore</c> with validation on start, and registers <see cref="ProcessingServicesProvider"/>.
    /// A <see cref="StorageClients"/>, <see cref="IPartitionedLog"/> (opened), <see cref="ITenantDirectory"/>
    /// or <see cref="TimeProvider"/> registered before is used instead of one built from the settings.
    /// </summary>
    [RequiresUnreferencedCode("Binds options by reflection; the processing hosts are not trimmed.")]
    [RequiresDynamicCode("Binds options by reflection; the processing hosts are not compiled ahead of time.")]
    public static IServiceCollection AddServerlessOtlpProcessing(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddLogging();
        services.AddValidated<StorageOptions>(configuration, StorageOptions.Section, StorageProblem);
        services.AddValidated<LogOptions>(configuration, LogOptions.Section, LogProblem);
        services.AddValidated<DrainOptions>(configuration, DrainOptions.Section, DrainProblem);
        services.AddValidated<HealthOptions>(configuration, HealthOptions.Section, HealthProblem);
        services.AddValidated<ExportResilienceOptions>(configuration, ExportResilienceOptions.Section, ResilienceProblem);
        services.AddValidated<RetryStoreOptions>(configuration, RetryStoreOptions.Section, RetryStoreProblem);
        services.TryAddSingleton(TimeProvider.System);
        // Egress policy, file root, secrets (in the tenant's namespace) and the migration window, from the same configuration.
        services.TryAddSingleton(_ => ExportSettings.FromConfiguration(configuration));
        services.TryAddSingleton(_ => ApiKeyHasher.FromConfiguration(configuration));
        services.TryAddSingleton<ProcessingServicesProvider>();
        return services;
    }

    [RequiresUnreferencedCode("Binds options by reflection.")]
    [RequiresDynamicCode("Binds options by reflection.")]
    private static void AddValidated<T>(this IServiceCollection services, IConfiguration configuration, string section, Func<T, string?> problem)
        where T : class
    {
        services.AddOptions<T>().Bind(configuration.GetSection(section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<T>>(new SectionValidator<T>(section, problem));
    }

    internal static string? StorageProblem(StorageOptions o) =>
        string.IsNullOrWhiteSpace(o.ConnectionString) && string.IsNullOrWhiteSpace(o.AccountName)
            ? "set ConnectionString (Azurite) or AccountName (Azure, with a managed identity)"
            : null;

    public static string? LogProblem(LogOptions o)
    {
        switch (o.Kind.ToLowerInvariant())
        {
            case "blob" or "memory":
                return o.Partitions is < 1 or > 1024 ? "Partitions must be 1 to 1024" : null;
            case "eventhubs":
                var hub = o.EventHubs;
                if (string.IsNullOrWhiteSpace(hub.ConnectionString) && string.IsNullOrWhiteSpace(hub.FullyQualifiedNamespace))
                {
                    return "Kind eventhubs needs EventHubs:FullyQualifiedNamespace (or EventHubs:ConnectionString)";
                }

                if (string.Equals(hub.ConsumerGroup, hub.ReplayConsumerGroup, StringComparison.OrdinalIgnoreCase))
                {
                    return $"EventHubs:ReplayConsumerGroup must differ from the live consumer group \"{hub.ConsumerGroup}\" (a replay cursor's receivers would cut off the live drain's)";
                }

                return hub.PrefetchCount < 0 || hub.PrefetchSizeInBytes <= 0 ? "EventHubs:PrefetchCount must be ≥ 0 and PrefetchSizeInBytes positive" : null;
            default:
                return $"unknown Kind \"{o.Kind}\"; use blob, eventhubs or memory";
        }
    }

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

    /// <summary>Names the section and the setting, so a bad app setting is found from the message alone.</summary>
    private sealed class SectionValidator<T>(string section, Func<T, string?> problem) : IValidateOptions<T>
        where T : class
    {
        public ValidateOptionsResult Validate(string? name, T options) =>
            problem(options) is { } message ? ValidateOptionsResult.Fail($"{section}: {message}") : ValidateOptionsResult.Success;
    }
}

/// <summary>
/// Creates the <see cref="ProcessingServices"/> on first use and keeps them. A failed creation (storage
/// briefly unreachable at a cold start) is not cached: the next call tries again.
/// </summary>
public sealed class ProcessingServicesProvider(IServiceProvider provider) : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ProcessingServices? _services;
    private IPartitionedLog? _ownedLog;

    public async ValueTask<ProcessingServices> GetAsync(CancellationToken cancellationToken = default)
    {
        if (Volatile.Read(ref _services) is { } ready)
        {
            return ready;
        }

        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_services == null)
            {
                Volatile.Write(ref _services, await CreateAsync(cancellationToken));
            }

            return _services;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<ProcessingServices> CreateAsync(CancellationToken cancellationToken)
    {
        var loggers = provider.GetRequiredService<ILoggerFactory>();
        var storage = provider.GetService<StorageClients>() ?? new StorageClients(provider.GetRequiredService<IOptions<StorageOptions>>().Value);
        var log = provider.GetService<IPartitionedLog>();
        if (log == null)
        {
            var options = provider.GetRequiredService<IOptions<LogOptions>>().Value;
            var created = PartitionedLogFactory.Create(options, storage, loggers);
            try
            {
                await created.OpenAsync(cancellationToken);
            }
            catch
            {
                await created.DisposeAsync();
                throw;
            }

            log = _ownedLog = created;
        }

        var tenants = provider.GetService<ITenantDirectory>();
        if (tenants == null)
        {
            var store = new TenantStore(storage.Tables, storage.Names.Tenants, storage.Blobs.GetBlobContainerClient(storage.Names.TenantContainer), keys: provider.GetRequiredService<ApiKeyHasher>());
            await store.EnsureCreatedAsync(cancellationToken);
            tenants = new TenantDirectory(store);
        }

        // Checkpoints and leases are keyed by the consumer group the receivers read in.
        var drain = provider.GetRequiredService<IOptions<DrainOptions>>().Value;
        drain = drain.ForConsumerGroup(DrainOptions.LiveConsumerGroup(log, drain.ConsumerGroup));

        var export = provider.GetRequiredService<ExportSettings>() with
        {
            Resilience = provider.GetRequiredService<IOptions<ExportResilienceOptions>>().Value,
            RetryStore = provider.GetRequiredService<IOptions<RetryStoreOptions>>().Value,
        };
        var services = await ProcessingServices.CreateAsync(log, storage, tenants, drain, loggers, export, provider.GetRequiredService<TimeProvider>(), cancellationToken);
        await storage.Queues.GetQueueClient(storage.Names.DrainJobs).CreateIfNotExistsAsync(cancellationToken: cancellationToken);
        return services;
    }

    /// <summary>Closes the log this provider opened (one registered by the host is the host's to close).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_ownedLog is { } log)
        {
            await log.DisposeAsync();
        }

        _gate.Dispose();
    }
}
