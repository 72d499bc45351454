using System.Net;
using Grpc.AspNetCore.Server.Model;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenTelemetry.Metrics;
using ServerlessOtlp.Gateway.Health;
using ServerlessOtlp.Gateway.Ingest;
using ServerlessOtlp.Gateway.Protocol;
using ServerlessOtlp.Gateway.Telemetry;
using ServerlessOtlp.Log;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Gateway;

/// <summary>What the gateway runs on: an opened log, the tenant directory and (optionally) the nodes table.</summary>
public sealed record GatewayDependencies(IPartitionedLog Log, ITenantDirectory Tenants, NodeStore? Nodes);

/// <summary>Builds the gateway's web application; used by Program, by <c>otlpctl dev</c> and by tests.</summary>
public static class GatewayHost
{
    public static WebApplication Build(GatewayOptions options, GatewayDependencies dependencies, string[]? args = null, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args ?? [] });
        ConfigureKestrel(builder, options);
        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(dependencies.Log);
        services.AddSingleton(dependencies.Tenants);
        if (dependencies.Nodes != null)
        {
            services.AddSingleton(dependencies.Nodes);
        }

        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(sp => new GatewayMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddSingleton<TenantRateLimiter>();
        services.AddSingleton(sp => new IngestService(dependencies.Log, options, sp.GetRequiredService<GatewayMetrics>(), sp.GetRequiredService<TenantRateLimiter>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<TenantLookupFailures>();
        services.AddSingleton<OtlpGrpcService>();
        services.AddSingleton<OtlpHttpEndpoints>();
        services.AddSingleton<Readiness>();
        services.AddHostedService(sp => new GatewayHeartbeat(
            dependencies.Nodes,
            sp.GetRequiredService<Readiness>(),
            options,
            sp.GetRequiredService<GatewayMetrics>(),
            sp.GetRequiredService<IngestService>(),
            sp.GetRequiredService<ILogger<GatewayHeartbeat>>()));

        services.AddGrpc(o =>
        {
            // grpc-dotnet applies this to the message before and after decompression; the wire limit, when
            // smaller, is enforced by LimitGrpcWireSize so that gzip gets MaxDecompressedBytes as over HTTP.
            o.MaxReceiveMessageSize = Math.Max(options.MaxRequestBytes, options.MaxDecompressedBytes);
            o.MaxSendMessageSize = 4 * 1024 * 1024;
            o.EnableDetailedErrors = false;
            o.CompressionProviders = [new LimitedGzipProvider(options.MaxDecompressedBytes)];
        });
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IServiceMethodProvider<OtlpGrpcService>, OtlpGrpcMethodProvider>());
        services.AddOpenTelemetry().WithMetrics(m => m.AddMeter(GatewayMetrics.MeterName).AddPrometheusExporter());

        configure?.Invoke(builder);
        var app = builder.Build();
        MapEndpoints(app, options);
        return app;
    }

    /// <summary>
    /// Limits a gRPC request body to MaxRequestBytes plus the frame header, answering RESOURCE_EXHAUSTED
    /// (Kestrel's own limit would surface as UNKNOWN), when MaxReceiveMessageSize is the larger decompressed limit.
    /// </summary>
    private static Func<HttpContext, RequestDelegate, Task> LimitGrpcWireSize(GatewayOptions options) => (ctx, next) =>
    {
        if (ctx.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true)
        {
            if (ctx.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
            {
                size.MaxRequestBodySize = null;
            }

            ctx.Request.Body = new LimitedReadStream(ctx.Request.Body, options.MaxRequestBytes + 5L, () => new Grpc.Core.RpcException(
                new Grpc.Core.Status(Grpc.Core.StatusCode.ResourceExhausted, $"request exceeds the limit of {options.MaxRequestBytes} bytes")));
        }

        return next(ctx);
    };

    private static void ConfigureKestrel(WebApplicationBuilder builder, GatewayOptions options)
    {
        builder.WebHost.UseSockets(s => s.UnsafePreferInlineScheduling = options.InlineScheduling);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            // + 5: a gRPC body is the message plus its 5-byte frame header; gRPC checks the message against
            // MaxReceiveMessageSize, and OtlpHttpEndpoints sets MaxRequestBytes on each OTLP/HTTP request.
            k.Limits.MaxRequestBodySize = options.MaxRequestBytes + 5L;
            // Many SDK connections each multiplex exports; larger windows keep big requests flowing.
            k.Limits.Http2.MaxStreamsPerConnection = 256;
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
        if (options.MaxDecompressedBytes > options.MaxRequestBytes)
        {
            app.Use(LimitGrpcWireSize(options));
        }

        app.MapGrpcService<OtlpGrpcService>();
        var http = app.Services.GetRequiredService<OtlpHttpEndpoints>();
        app.Map("/v1/{signal}", http.HandleAsync);

        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", (Readiness r) => r.IsReady ? Results.Text("ready\n") : Results.Text($"not ready: {r.Reason}\n", statusCode: 503));
        app.MapPrometheusScrapingEndpoint("/metrics").RequireHost($"*:{options.ManagementPort}");

        // Unknown paths get a google.rpc.Status body, not the framework's empty 404.
        app.MapFallback(async ctx =>
        {
            if (ctx.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true)
            {
                ctx.Response.StatusCode = 404;
                return;
            }

            await OtlpHttpEndpoints.WriteFailure(ctx, OtlpHttpEndpoints.IsJson(ctx.Request.ContentType),
                IngestResult.Fail(IngestOutcome.NotFound, $"unknown path {ctx.Request.Path}; OTLP/HTTP serves /v1/traces, /v1/metrics and /v1/logs"));
        });
    }
}
