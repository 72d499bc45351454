using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ServerlessOtlp.Log;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Hosting;

/// <summary>
/// What every host composes the same way — the gateway, the Functions app and <c>otlpctl</c>: storage,
/// the partitioned log and the tenant directory, each options section bound by the configuration
/// binding source generator (the gateway is Native AOT) and validated at start. A component registered
/// before one of these calls (a test's log, <c>otlpctl</c>'s storage) is used instead of one built here.
/// The asynchronous part of starting (opening the log, creating tables) runs once, through
/// <see cref="ServerlessOtlpStartup"/>.
/// </summary>
public static class ServerlessOtlpComposition
{
    /// <summary><c>ServerlessOtlp:Storage</c> (validated) and the <see cref="StorageClients"/> over it; the key hasher (<c>ServerlessOtlp:Tenants</c>); the system clock.</summary>
    public static IServiceCollection AddServerlessOtlpStorage(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddLogging();
        services.TryAddSingleton(TimeProvider.System);
        var storage = services.AddOptions<StorageOptions>().Bind(configuration.GetSection(StorageOptions.Section));
        if (!services.Registers<StorageClients>())
        {
            // Validated only when used: otlpctl chooses storage by its flags and registers the clients before.
            storage.ValidateWith(StorageOptions.Section, StorageProblem);
            services.AddSingleton(sp => new StorageClients(sp.GetRequiredService<IOptions<StorageOptions>>().Value));
        }

        services.TryAddSingleton(_ => ApiKeyHasher.FromConfiguration(configuration));
        services.Startup();
        return services;
    }

    /// <summary><c>ServerlessOtlp:Log</c> (validated) and the log it names, opened at start; a log registered before is the host's, already open.</summary>
    /// <param name="appendOnly">
    /// The host only appends (the gateway): the consumer-group and prefetch settings, which it never reads,
    /// are not checked, so a setting only the drains use cannot stop it.
    /// </param>
    public static IServiceCollection AddServerlessOtlpLog(this IServiceCollection services, IConfiguration configuration, bool appendOnly = false)
    {
        var options = services.AddOptions<LogOptions>().Bind(configuration.GetSection(LogOptions.Section));
        if (!services.Registers<IPartitionedLog>())
        {
            options.ValidateWith(LogOptions.Section, appendOnly ? AppendLogProblem : LogProblem);
            // Created here, so the container disposes it; opened by the startup, retried there if Event Hubs or storage is briefly away.
            services.AddSingleton(sp => PartitionedLogFactory.Create(
                sp.GetRequiredService<IOptions<LogOptions>>().Value,
                sp.GetRequiredService<StorageClients>(),
                sp.GetRequiredService<ILoggerFactory>()));
            services.Startup().Add((sp, ct) => sp.GetRequiredService<IPartitionedLog>().OpenAsync(ct));
        }

        return services;
    }

    /// <summary>
    /// The tenant directory over the tenants table and config container; with <paramref name="createTables"/>
    /// the startup creates them (the processing side; the gateway's identity only reads them, and the Bicep creates them).
    /// </summary>
    public static IServiceCollection AddServerlessOtlpTenants(this IServiceCollection services, bool createTables = false)
    {
        if (!services.Registers<ITenantDirectory>())
        {
            services.TryAddSingleton(sp =>
            {
                var storage = sp.GetRequiredService<StorageClients>();
                return new TenantStore(storage.Tables, storage.Names.Tenants, storage.Blobs.GetBlobContainerClient(storage.Names.TenantContainer), keys: sp.GetRequiredService<ApiKeyHasher>());
            });
            services.AddSingleton<ITenantDirectory>(sp => new TenantDirectory(sp.GetRequiredService<TenantStore>()));
            if (createTables)
            {
                services.Startup().Add((sp, ct) => sp.GetRequiredService<TenantStore>().EnsureCreatedAsync(ct));
            }
        }

        return services;
    }

    /// <summary>Validates the options at start and runs the start steps once (<see cref="ServerlessOtlpStartup.EnsureStartedAsync"/>).</summary>
    public static ValueTask StartServerlessOtlpAsync(this IServiceProvider provider, CancellationToken cancellationToken = default) =>
        provider.GetRequiredService<ServerlessOtlpStartup>().EnsureStartedAsync(cancellationToken);

    internal static string? StorageProblem(StorageOptions o) =>
        string.IsNullOrWhiteSpace(o.ConnectionString) && string.IsNullOrWhiteSpace(o.AccountName)
            ? "set ConnectionString (Azurite) or AccountName (Azure, with a managed identity)"
            : null;

    /// <summary>What a log setting that cannot work says: the rules for reading and appending.</summary>
    public static string? LogProblem(LogOptions o)
    {
        if (AppendLogProblem(o) is { } problem)
        {
            return problem;
        }

        switch (o.Kind.ToLowerInvariant())
        {
            case "eventhubs":
                var hub = o.EventHubs;
                if (string.Equals(hub.ConsumerGroup, hub.ReplayConsumerGroup, StringComparison.OrdinalIgnoreCase))
                {
                    return $"EventHubs:ReplayConsumerGroup must differ from the live consumer group \"{hub.ConsumerGroup}\" (a replay cursor's receivers would cut off the live drain's)";
                }

                return hub.PrefetchCount < 0 || hub.PrefetchSizeInBytes <= 0 ? "EventHubs:PrefetchCount must be ≥ 0 and PrefetchSizeInBytes positive" : null;
            default:
                return null;
        }
    }

    /// <summary>The rules an appending host needs: a known kind, a partition count, where Event Hubs is.</summary>
    internal static string? AppendLogProblem(LogOptions o) => o.Kind.ToLowerInvariant() switch
    {
        "blob" or "memory" => o.Partitions is < 1 or > 1024 ? "Partitions must be 1 to 1024" : null,
        "eventhubs" => string.IsNullOrWhiteSpace(o.EventHubs.ConnectionString) && string.IsNullOrWhiteSpace(o.EventHubs.FullyQualifiedNamespace)
            ? "Kind eventhubs needs EventHubs:FullyQualifiedNamespace (or EventHubs:ConnectionString)"
            : null,
        _ => $"unknown Kind \"{o.Kind}\"; use blob, eventhubs or memory",
    };

    /// <summary>Validation on start with a message that names the section and the setting, so a bad app setting is found from the message alone.</summary>
    internal static OptionsBuilder<T> ValidateWith<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] T>(this OptionsBuilder<T> options, string section, Func<T, string?> problem)
        where T : class
    {
        options.Services.AddSingleton<IValidateOptions<T>>(new SectionValidator<T>(section, problem));
        return options.ValidateOnStart();
    }

    internal static bool Registers<T>(this IServiceCollection services) => services.Any(d => d.ServiceType == typeof(T));

    /// <summary>The one list of start steps of this collection, registered with its <see cref="ServerlessOtlpStartup"/> on first use.</summary>
    internal static StartupSteps Startup(this IServiceCollection services)
    {
        if (services.FirstOrDefault(d => d.ServiceType == typeof(StartupSteps))?.ImplementationInstance is StartupSteps steps)
        {
            return steps;
        }

        steps = new StartupSteps();
        services.AddSingleton(steps);
        services.AddSingleton(sp => new ServerlessOtlpStartup(sp, steps));
        return steps;
    }

    private sealed class SectionValidator<T>(string section, Func<T, string?> problem) : IValidateOptions<T>
        where T : class
    {
        public ValidateOptionsResult Validate(string? name, T options) =>
            problem(options) is { } message ? ValidateOptionsResult.Fail($"{section}: {message}") : ValidateOptionsResult.Success;
    }
}

/// <summary>The asynchronous work of starting, in registration order: opening the log, then creating tables, containers and queues.</summary>
internal sealed class StartupSteps : List<Func<IServiceProvider, CancellationToken, Task>>
{
}

/// <summary>
/// Runs the composition's start once: the options validated (as a host's start does; a bare provider has
/// no host), then every start step in order. A failed start (storage briefly unreachable at a cold start)
/// is not kept: the next call starts again, and every step is safe to repeat.
/// </summary>
public sealed class ServerlessOtlpStartup
{
    private readonly IServiceProvider _provider;
    private readonly StartupSteps _steps;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile bool _started;

    internal ServerlessOtlpStartup(IServiceProvider provider, StartupSteps steps)
    {
        _provider = provider;
        _steps = steps;
    }

    /// <exception cref="OptionsValidationException">A section does not validate; the message names it (an <see cref="AggregateException"/> of them when several fail).</exception>
    public async ValueTask EnsureStartedAsync(CancellationToken cancellationToken = default)
    {
        if (_started)
        {
            return;
        }

        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_started)
            {
                return;
            }

            _provider.GetService<IStartupValidator>()?.Validate();
            foreach (var step in _steps)
            {
                await step(_provider, cancellationToken);
            }

            _started = true;
        }
        finally
        {
            _gate.Release();
        }
    }
}
