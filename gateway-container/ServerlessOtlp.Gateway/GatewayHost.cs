using System.Net;
using Grpc.AspNetCore.Server.Model;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
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
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Gateway;

/// <summary>
/// What the gateway runs on: an opened log, the tenant directory and (optionally) the nodes table, with
/// the rows through which replicas share tenants' limits (without them, each replica enforces the whole limit).
/// </summary>
/// <param name="Agents">OpAMP agents (the <c>agents</c> table); without it they are kept in memory and lost on restart.</param>
/// <param name="Wakeup">Push-started drains (the Functions app's drain-jobs queue); none where drains are dispatched locally.</param>
internal sealed record GatewayDependencies(IPartitionedLog Log, ITenantDirectory Tenants, NodeStore? Nodes, LimitDemandStore? LimitDemand = null, IAgentStore? Agents = null, DrainWakeup? Wakeup = null);

/// <summary>Builds the gateway's web application; used by Program, by <c>otlpctl dev</c> and by tests.</summary>
internal static class GatewayHost
{
    /// <summary>
    /// The deployed gateway: storage, the log and the tenant directory composed as the Functions app and
    /// <c>otlpctl</c> compose them (<see cref="ServerlessOtlpComposition"/>), every section validated and the
    /// log opened before the app takes a request; the nodes, limit-demand and agents tables of the account;
    /// push-started drains when <see cref="GatewayOptions.PushDrainJobs"/>.
    /// </summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">A section does not validate; the message names it (an <see cref="AggregateException"/> of them when several fail).</exception>
    public static async Task<WebApplication> BuildAsync(GatewayOptions options, IConfiguration configuration, string[]? args = null)
    {
        var builder = CreateBuilder(options, args, services =>
        {
            services.AddServerlessOtlpStorage(configuration)
                .AddServerlessOtlpLog(configuration)
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
        });
        var app = builder.Build();
        try
        {
            // Before anything resolves the log: the ingest path and the wakeup read its partition count.
            await app.Services.StartServerlessOtlpAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        MapEndpoints(app, options);
        return app;
    }

    /// <summary>A gateway over components the caller opened and owns (<c>otlpctl dev</c>, tests).</summary>
    public static WebApplication Build(GatewayOptions options, GatewayDependencies dependencies, string[]? args = null, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = CreateBuilder(options, args, services =>
        {
            services.AddSingleton(dependencies.Log);
            services.AddSingleton(dependencies.Tenants);
            AddIfGiven(services, dependencies.Nodes);
            AddIfGiven(services, dependencies.LimitDemand);
            AddIfGiven(services, dependencies.Agents);
            AddIfGiven(services, dependencies.Wakeup);
        });
        configure?.Invoke(builder);
        var app = builder.Build();
        MapEndpoints(app, options);
        return app;
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

    /// <summary>
    /// The web application with the gateway's own services over the components <paramref name="components"/>
    /// registers: the log and the tenant directory, and optionally the nodes table (heartbeats), the
    /// limit-demand rows (shared limits; without them each replica enforces the whole limit), the agents
    /// store (without it agents are kept in memory) and the drain wakeup.
    /// </summary>
    private static WebApplicationBuilder CreateBuilder(GatewayOptions options, string[]? args, Action<IServiceCollection> components)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args ?? [] });
        ConfigureKestrel(builder, options);
        var services = builder.Services;
        services.AddSingleton(options);
        components(services);
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
        services.AddOpenTelemetry().WithMetrics(m => m.AddServerlessOtlpMeters().AddPrometheusExporter().AddServerlessOtlpExporters(builder.Configuration));

        return builder;
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

    private static void ConfigureKestrel(WebApplicationBuilder builder, GatewayOptions options)
    {
        builder.WebHost.UseSockets(s => s.UnsafePreferInlineScheduling = options.InlineScheduling);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            // OtlpHttpEndpoints sets MaxRequestBytes on each OTLP/HTTP request and GrpcFrontDoor lifts it for
            // gRPC (whose message limit is checked from the frame header); anything else gets the smaller limit.
            k.Limits.MaxRequestBodySize = options.MaxRequestBytes;
            k.Limits.MaxConcurrentConnections = options.MaxConnections;
            k.Limits.MaxConcurrentUpgradedConnections = 0;
            k.Limits.Http2.MaxStreamsPerConnection = options.MaxStreamsPerConnection;
            // Larger windows keep big requests flowing; a stream can buffer at most its window unread.
            k.Limits.Http2.InitialConnectionWindowSize = 4 * 1024 * 1024;
            k.Limits.Http2.InitialStreamWindowSize = 1024 * 1024;
            var address = IPAddress.Parse(options.BindAddress);
            if (options.SinglePort is int single)
            {
                k.Listen(address, single, l => l.Protocols = HttpProtocols.Http2);
            }
            else
            {
                k.Listen(address, options.GrpcPort, l => l.Protocols = HttpProtocols.Http2);
                k.Listen(address, options.HttpPort, l => l.Protocols = HttpProtocols.Http1);
            }

            k.Listen(address, options.ManagementPort, l => l.Protocols = HttpProtocols.Http1);
        });
    }

    private static void MapEndpoints(WebApplication app, GatewayOptions options)
    {
        app.Use(ManagementByPort(options));
        var frontDoor = app.Services.GetRequiredService<GrpcFrontDoor>();
        app.Use(frontDoor.InvokeAsync);

        app.MapGrpcService<OtlpGrpcService>();
        var http = app.Services.GetRequiredService<OtlpHttpEndpoints>();
        app.Map(OpAmpEndpoint.Path, app.Services.GetRequiredService<OpAmpEndpoint>().HandleAsync);
        app.Map("/v1/{signal}", http.HandleAsync);

        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", (HttpContext ctx, Readiness r) =>
        {
            // Why it is not ready (exception text) is for operators on the management port only.
            bool management = ctx.Connection.LocalPort == options.ManagementPort;
            return r.IsReady ? Results.Text("ready\n") : Results.Text(management ? $"not ready: {r.Reason}\n" : "not ready\n", statusCode: 503);
        });
        app.MapPrometheusScrapingEndpoint("/metrics");

        // Unknown paths get a google.rpc.Status body, not the framework's empty 404.
        app.MapFallback(NotFoundAsync);
    }

    /// <summary>
    /// The management port serves /healthz, /readyz and /metrics and nothing else; the OTLP ports never
    /// serve /metrics (tenant ids and volumes). Judged by the port the connection arrived on, never by
    /// the Host header, which the client writes.
    /// </summary>
    private static Func<HttpContext, RequestDelegate, Task> ManagementByPort(GatewayOptions options) => (ctx, next) =>
    {
        bool management = ctx.Connection.LocalPort == options.ManagementPort;
        string path = ctx.Request.Path.Value ?? "";
        bool managementPath = path is "/healthz" or "/readyz" or "/metrics";
        if (management != managementPath && !(path is "/healthz" or "/readyz"))
        {
            return NotFoundAsync(ctx);
        }

        return next(ctx);
    };

    private static Task NotFoundAsync(HttpContext ctx)
    {
        if (GrpcFrontDoor.IsGrpc(ctx.Request))
        {
            ctx.Response.StatusCode = 404;
            return Task.CompletedTask;
        }

        return OtlpHttpEndpoints.WriteFailure(ctx, OtlpHttpEndpoints.IsJson(ctx.Request.ContentType),
            IngestResult.Fail(IngestOutcome.NotFound, $"unknown path {ctx.Request.Path}; OTLP/HTTP serves /v1/traces, /v1/metrics and /v1/logs"));
    }
}
