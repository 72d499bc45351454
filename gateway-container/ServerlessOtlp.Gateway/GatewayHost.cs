using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
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
        var builder = CreateBuilder(options, args, services => services.AddDeployedComponents(options, configuration));
        var app = builder.Build();
        try
        {
            // Before anything resolves the log: the ingest path and the wakeup read its partition count.
            await app.Services.StartServerlessOtlpAsync();
            GatewayEndpoints.Map(app, options);
        }
        catch
        {
            // The opened log (and whatever else the container made) is closed, not left to the process exit.
            await app.DisposeAsync();
            throw;
        }

        return app;
    }

    /// <summary>A gateway over components the caller opened and owns (<c>otlpctl dev</c>, tests).</summary>
    public static WebApplication Build(GatewayOptions options, GatewayDependencies dependencies, string[]? args = null, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = CreateBuilder(options, args, services => services.AddGivenComponents(dependencies));
        configure?.Invoke(builder);
        var app = builder.Build();
        GatewayEndpoints.Map(app, options);
        return app;
    }

    /// <summary>The web application: Kestrel on the gateway's ports, the components <paramref name="components"/> registers, the gateway's own services.</summary>
    private static WebApplicationBuilder CreateBuilder(GatewayOptions options, string[]? args, Action<IServiceCollection> components)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args ?? [] });
        ConfigureKestrel(builder, options);
        var services = builder.Services;
        services.AddSingleton(options);
        components(services);
        services.AddGatewayServices(options, builder.Configuration);
        return builder;
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
}
