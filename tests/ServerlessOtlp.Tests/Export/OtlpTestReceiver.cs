using System.Collections.Concurrent;
using System.IO.Compression;
using System.Net;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Proto.Collector.Trace.V1;
using ServerlessOtlp.Otlp.Json;

namespace ServerlessOtlp.Tests.Export;

/// <summary>How the in-test backend answers (the Collector's exporter contract test modes).</summary>
public enum ReceiverMode
{
    AlwaysSucceed,
    RandomTransient,
    RandomPermanent,
    Slow,
}

/// <summary>
/// A real OTLP backend for tests: Kestrel with the gRPC trace service (h2c) and <c>POST /v1/traces</c>
/// (protobuf or JSON, gzip), decoding with the generated types. It records the <c>test.id</c>
/// attribute of every span it accepts and of every span it refuses for good.
/// </summary>
public sealed class OtlpTestReceiver : IAsyncDisposable
{
    public const string IdAttribute = "test.id";

    private readonly WebApplication _app;
    private readonly BackendVerdicts _verdicts;

    private OtlpTestReceiver(WebApplication app, int seed)
    {
        _app = app;
        _verdicts = new BackendVerdicts(seed);
    }

    public Uri GrpcUri { get; private set; } = null!;

    public Uri HttpUri { get; private set; } = null!;

    public ReceiverMode Mode { get => _verdicts.Mode; set => _verdicts.Mode = value; }

    /// <summary>Share of requests failed in the random modes.</summary>
    public double FailureRate { get => _verdicts.FailureRate; set => _verdicts.FailureRate = value; }

    /// <summary>Longest extra latency in <see cref="ReceiverMode.Slow"/>.</summary>
    public TimeSpan MaxLatency { get => _verdicts.MaxLatency; set => _verdicts.MaxLatency = value; }

    /// <summary>Accepted span ids with how often each arrived (more than once = a duplicate).</summary>
    public ConcurrentDictionary<string, int> Received => _verdicts.Received;

    public ConcurrentDictionary<string, byte> PermanentlyRejected => _verdicts.PermanentlyRejected;

    public int Requests => _verdicts.Requests;

    public static async Task<OtlpTestReceiver> StartAsync(int seed = 42)
    {
        var builder = WebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2);
            k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http1AndHttp2);
        });
        builder.Services.AddGrpc();
        var holder = new ReceiverHolder();
        builder.Services.AddSingleton(holder);
        var app = builder.Build();
        var receiver = new OtlpTestReceiver(app, seed);
        holder.Receiver = receiver;
        app.MapGrpcService<GrpcTraceService>();
        app.MapPost("/v1/traces", receiver.HandleHttpAsync);
        await app.StartAsync();
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToList();
        receiver.GrpcUri = new Uri(addresses[0].Replace("[::1]", "127.0.0.1", StringComparison.Ordinal));
        receiver.HttpUri = new Uri(addresses[1].Replace("[::1]", "127.0.0.1", StringComparison.Ordinal));
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            await _app.StopAsync(cts.Token);
        }

        await _app.DisposeAsync();
    }

    public static IEnumerable<string> Ids(ExportTraceServiceRequest request) =>
        from rs in request.ResourceSpans
        from ss in rs.ScopeSpans
        from span in ss.Spans
        from attribute in span.Attributes
        where attribute.Key == IdAttribute
        select attribute.Value.StringValue;

    private async Task HandleHttpAsync(HttpContext context)
    {
        Stream body = context.Request.Body;
        if (context.Request.Headers.ContentEncoding.ToString().Contains("gzip", StringComparison.OrdinalIgnoreCase))
        {
            body = new GZipStream(body, CompressionMode.Decompress);
        }

        var buffer = new MemoryStream();
        await body.CopyToAsync(buffer, context.RequestAborted);
        bool json = context.Request.ContentType?.Contains("json", StringComparison.OrdinalIgnoreCase) ?? false;
        ExportTraceServiceRequest request;
        try
        {
            request = json ? OtlpJson.Parse<ExportTraceServiceRequest>(buffer.ToArray()) : ExportTraceServiceRequest.Parser.ParseFrom(buffer.ToArray());
        }
        catch (Exception ex) when (ex is InvalidProtocolBufferException or OtlpJsonException)
        {
            context.Response.StatusCode = 400;
            return;
        }

        var answer = await _verdicts.DecideAsync(Ids(request).ToList());
        context.Response.ContentType = json ? "application/json" : "application/x-protobuf";
        switch (answer)
        {
            case BackendVerdict.Transient:
                context.Response.StatusCode = 503;
                context.Response.Headers.RetryAfter = "0";
                return;
            case BackendVerdict.Permanent:
                context.Response.StatusCode = 400;
                return;
        }

        var response = new ExportTraceServiceResponse();
        if (json)
        {
            await context.Response.WriteAsync(OtlpJson.Format(response));
        }
        else
        {
            await context.Response.Body.WriteAsync(response.ToByteArray());
        }
    }

    private sealed class ReceiverHolder
    {
        public OtlpTestReceiver Receiver { get; set; } = null!;
    }

    private sealed class GrpcTraceService(ReceiverHolder holder) : TraceService.TraceServiceBase
    {
        public override async Task<ExportTraceServiceResponse> Export(ExportTraceServiceRequest request, ServerCallContext context)
        {
            switch (await holder.Receiver._verdicts.DecideAsync(Ids(request).ToList()))
            {
                case BackendVerdict.Transient:
                    throw new RpcException(new Grpc.Core.Status(StatusCode.Unavailable, "test: unavailable"));
                case BackendVerdict.Permanent:
                    throw new RpcException(new Grpc.Core.Status(StatusCode.InvalidArgument, "test: refused"));
                default:
                    return new ExportTraceServiceResponse();
            }
        }
    }
}
