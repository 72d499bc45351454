using Grpc.AspNetCore.Server.Model;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenTelemetry.Metrics;
using ServerlessOtlp.Gateway.Agents;
using ServerlessOtlp.Gateway.Health;
using ServerlessOtlp.Gateway.Ingest;
using ServerlessOtlp.Gateway.Protocol;
using ServerlessOtlp.Gateway.Security;
using ServerlessOtlp.Gateway.Telemetry;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Log;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Gateway;

/// <summary>
/// The gateway's registrations: the components it runs on (composed from configuration as the other hosts
/// compose them, or handed in), and its own services over them.
/// </summary>
internal static class GatewayComposition
{
    /// <summary>
    /// As deployed: storage, the log and the tenant directory through the shared extensions; the nodes,
    /// limit-demand and agents tables of the account; push-started drains when <see cref="GatewayOptions.PushDrainJobs"/>.
    /// </summary>
    public static IServiceCollection AddDeployedComponents(this IServiceCollection services, GatewayOptions options, IConfiguration configuration)
    {
        services.AddServerlessOtlpStorage(configuration)
            .AddServerlessOtlpLog(configuration, appendOnly: true)
            .AddServerlessOtlpTenants();
        services.AddSingleton(sp => new NodeStore(Storage(sp).Tables, Storage(sp).Names.Nodes));
        services.AddSingleton(sp => new LimitDemandStore(Storage(sp).Tables, Storage(sp).Names.Nodes));
        // The agents table is created by the Bicep (and otlpctl dev).
        services.AddSingleton<IAgentStore>(sp => new AgentStore(Storage(sp).Tables, Storage(sp).Names.Agents));
        if (options.PushDrainJobs)
        {
            // Push-started drains: the leases say whether a partition is drained; the markers and the queue are the Functions app's.
            services.AddSingleton(sp => CreateWakeup(sp, configuration));
        }
        return services;
    }

    /// <summary>
    /// Components the caller opened and owns: the log and the tenant directory, and optionally the nodes table
    /// (heartbeats), the limit-demand rows (shared limits; without them each replica enforces the whole limit),
    /// the agents store (without it agents are kept in memory) and the drain wakeup.
    /// </summary>
    public static IServiceCollection AddGivenComponents(this IServiceCollection services, GatewayDependencies dependencies)
    {
        services.AddSingleton(dependencies.Log);
        services.AddSingleton(dependencies.Tenants);
        AddIfGiven(services, dependencies.Nodes);
        AddIfGiven(services, dependencies.LimitDemand);
        AddIfGiven(services, dependencies.Agents);
        AddIfGiven(services, dependencies.Wakeup);
        return services;
    }

    /// <summary>The gateway's own services over the registered components: limits, ingest, authentication, the OTLP and OpAMP endpoints, heartbeat, gRPC and meters.</summary>
    public static IServiceCollection AddGatewayServices(this IServiceCollection services, GatewayOptions options, IConfiguration configuration)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(sp => new GatewayMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddSingleton(sp => new TenantLimitShares(sp.GetService<LimitDemandStore>(), options.NodeId, sp.GetRequiredService<TimeProvider>(), options.LimitSyncInterval));
        services.AddSingleton(sp => new TenantRateLimiter(sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<TenantLimitShares>()));
        if (services.Any(d => d.ServiceType == typeof(LimitDemandStore)))
        {
            services.AddHostedService(sp => new LimitShareSync(sp.GetRequiredService<TenantLimitShares>(), options.LimitSyncInterval, sp.GetRequiredService<ILogger<LimitShareSync>>()));
        }

        services.AddSingleton(sp => new IngestService(sp.GetRequiredService<IPartitionedLog>(), options, sp.GetRequiredService<GatewayMetrics>(), sp.GetRequiredService<TenantRateLimiter>(), sp.GetRequiredService<TimeProvider>(), sp.GetService<DrainWakeup>()));
        services.AddSingleton<TenantLookupFailures>();
        services.AddSingleton<AuthFailureLimiter>();
        services.AddSingleton<RequestAuthenticator>();
        services.AddSingleton<GrpcFrontDoor>();
        services.AddSingleton<OtlpGrpcService>();
        services.AddSingleton<OtlpHttpEndpoints>();
        services.AddSingleton<Readiness>();
        AddOpAmp(services, options);
        services.AddHostedService(sp => new GatewayHeartbeat(
            sp.GetService<NodeStore>(),
            sp.GetRequiredService<Readiness>(),
            options,
            sp.GetRequiredService<GatewayMetrics>(),
            sp.GetRequiredService<IngestService>(),
            sp.GetRequiredService<ILogger<GatewayHeartbeat>>()));

        AddGrpcAndMeters(services, options, configuration);
        return services;
    }

    /// <summary>gRPC with the gateway's message limits and bounded gzip, and every meter to Prometheus text on the management port (and Azure Monitor / OTLP where configured).</summary>
    private static void AddGrpcAndMeters(IServiceCollection services, GatewayOptions options, IConfiguration configuration)
    {
        services.AddGrpc(o =>
        {
            // grpc-dotnet checks this before and after decompression: the larger of the two limits here, the
            // wire limit in GrpcFrontDoor (from the frame header), the decompressed one in LimitedGzipProvider
            // (while inflating, so a bomb never expands).
            o.MaxReceiveMessageSize = Math.Max(options.GrpcWireLimit, options.GrpcDecompressedLimit);
            o.MaxSendMessageSize = 4 * 1024 * 1024;
            o.EnableDetailedErrors = false;
            o.CompressionProviders = [new LimitedGzipProvider(options.GrpcDecompressedLimit)];
        });
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IServiceMethodProvider<OtlpGrpcService>, OtlpGrpcMethodProvider>());
        // Every meter of the project and the platform: Prometheus text on the management port, and Azure
        // Monitor / OTLP where the environment configures them.
        services.AddOpenTelemetry().WithMetrics(m => m.AddServerlessOtlpMeters().AddPrometheusExporter().AddServerlessOtlpExporters(configuration));
    }

    /// <summary>The OpAMP server (<c>POST /v1/opamp</c>): its agents store, per-replica registry, endpoint and removal sweep.</summary>
    private static void AddOpAmp(IServiceCollection services, GatewayOptions options)
    {
        services.AddSingleton(options.OpAmp);
        services.TryAddSingleton<IAgentStore>(sp => new InMemoryAgentStore(sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new OpAmpMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddSingleton<AgentRegistry>();
        services.AddSingleton<OpAmpEndpoint>();
        services.AddHostedService<AgentSweep>();
    }

    private static void AddIfGiven<T>(IServiceCollection services, T? component)
        where T : class
    {
        if (component != null)
        {
            services.AddSingleton(component);
        }
    }

    private static StorageClients Storage(IServiceProvider sp) => sp.GetRequiredService<StorageClients>();

    private static DrainWakeup CreateWakeup(IServiceProvider sp, IConfiguration configuration)
    {
        var log = sp.GetRequiredService<IPartitionedLog>();
        string group = DrainOptions.LiveConsumerGroup(log, configuration[$"{DrainOptions.Section}:ConsumerGroup"] ?? new DrainOptions().ConsumerGroup);
        var storage = Storage(sp);
        var jobs = StorageQueueDrainJobs.For(storage, log.Name, group);
        return new DrainWakeup(new LeaseStore(storage.Tables, storage.Names.Leases), jobs, log.Name, group, log.PartitionCount, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<DrainWakeup>>());
    }
}
