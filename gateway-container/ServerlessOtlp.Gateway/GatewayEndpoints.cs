using ServerlessOtlp.Gateway.Agents;
using ServerlessOtlp.Gateway.Health;
using ServerlessOtlp.Gateway.Ingest;
using ServerlessOtlp.Gateway.Protocol;

namespace ServerlessOtlp.Gateway;

/// <summary>The gateway's routes: OTLP over gRPC and HTTP, OpAMP, and the management port's health and metrics.</summary>
internal static class GatewayEndpoints
{
    public static void Map(WebApplication app, GatewayOptions options)
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
