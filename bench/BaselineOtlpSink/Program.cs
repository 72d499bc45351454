using System.Net;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using OpenTelemetry.Proto.Collector.Trace.V1;

// Usage: BaselineOtlpSink PORT
// A plain parse-and-drop OTLP/gRPC sink: grpc-dotnet deserializes every request into the
// generated Google.Protobuf types (the marshaller is the generated one) and the service answers
// an empty (= full success) response. No authentication, no partitioning, no log: it is the
// floor a gRPC server on this stack costs, to compare the gateway with.
int port = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 4327;

var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
builder.Logging.ClearProviders();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.WebHost.ConfigureKestrel(k =>
{
    // The gateway's Kestrel settings (GatewayHost.ConfigureKestrel), so that transport tuning is equal.
    k.AddServerHeader = false;
    k.Limits.MaxRequestBodySize = 64 * 1024 * 1024 + 5L;
    k.Limits.Http2.MaxStreamsPerConnection = 256;
    k.Limits.Http2.InitialConnectionWindowSize = 4 * 1024 * 1024;
    k.Limits.Http2.InitialStreamWindowSize = 1024 * 1024;
    k.Listen(IPAddress.Loopback, port, l => l.Protocols = HttpProtocols.Http2);
});
builder.Services.AddGrpc(o =>
{
    o.MaxReceiveMessageSize = 64 * 1024 * 1024;
    o.EnableDetailedErrors = false;
});

var app = builder.Build();
app.MapGrpcService<TraceSink>();
app.MapGrpcService<MetricsSink>();
app.MapGrpcService<LogsSink>();
await app.StartAsync();
Console.Out.WriteLine($"baseline sink listening on http://127.0.0.1:{port}");
await app.WaitForShutdownAsync();

internal sealed class TraceSink : TraceService.TraceServiceBase
{
    private static readonly ExportTraceServiceResponse Ok = new();

    public override Task<ExportTraceServiceResponse> Export(ExportTraceServiceRequest request, ServerCallContext context) => Task.FromResult(Ok);
}

internal sealed class MetricsSink : MetricsService.MetricsServiceBase
{
    private static readonly ExportMetricsServiceResponse Ok = new();

    public override Task<ExportMetricsServiceResponse> Export(ExportMetricsServiceRequest request, ServerCallContext context) => Task.FromResult(Ok);
}

internal sealed class LogsSink : LogsService.LogsServiceBase
{
    private static readonly ExportLogsServiceResponse Ok = new();

    public override Task<ExportLogsServiceResponse> Export(ExportLogsServiceRequest request, ServerCallContext context) => Task.FromResult(Ok);
}
