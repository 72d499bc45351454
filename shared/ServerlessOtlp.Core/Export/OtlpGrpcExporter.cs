using System.Buffers;
using System.Collections.Concurrent;
using Grpc.Core;
using Grpc.Net.Client;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Export;

/// <summary>
/// The <c>otlp</c> destination: OTLP/gRPC. The event's protobuf bytes go out as they are (a raw
/// marshaller, no re-encoding); one <see cref="GrpcChannel"/> per endpoint, kept for the process.
/// </summary>
public sealed class OtlpGrpcExporter : IDestinationExporter, IDisposable
{
    /// <summary>grpc-dotnet's request-compression switch: the call's metadata names the encoding.</summary>
    private const string RequestEncodingHeader = "grpc-internal-encoding-request";

    private static readonly Marshaller<RawRequest> RequestMarshaller = new(
        static (body, context) =>
        {
            context.SetPayloadLength(body.Bytes.Length);
            context.GetBufferWriter().Write(body.Bytes.Span);
            context.Complete();
        },
        static _ => throw new NotSupportedException("requests are only sent"));

    private static readonly Marshaller<byte[]> ResponseMarshaller = new(
        static (_, _) => throw new NotSupportedException("responses are only read"),
        static context => context.PayloadAsNewBuffer());

    private static readonly Method<RawRequest, byte[]> TracesExport = Export("opentelemetry.proto.collector.trace.v1.TraceService");
    private static readonly Method<RawRequest, byte[]> MetricsExport = Export("opentelemetry.proto.collector.metrics.v1.MetricsService");
    private static readonly Method<RawRequest, byte[]> LogsExport = Export("opentelemetry.proto.collector.logs.v1.LogsService");

    private readonly ConcurrentDictionary<string, GrpcChannel> _channels = new(StringComparer.Ordinal);
    private readonly ISecretResolver? _secrets;

    public OtlpGrpcExporter(ISecretResolver? secrets = null) => _secrets = secrets;

    public DestinationKind Kind => DestinationKind.Otlp;

    public async Task<ExportOutcome> ExportAsync(ExportRequest request, CancellationToken cancellationToken = default)
    {
        if (!Uri.TryCreate(request.Destination.Endpoint, UriKind.Absolute, out var endpoint))
        {
            return ExportOutcome.Permanent("otlp destination has no valid endpoint");
        }

        var headers = new Metadata();
        try
        {
            foreach (var (name, value) in DestinationHeaders.Resolve(request.Destination, _secrets))
            {
                headers.Add(name, value);
            }
        }
        catch (InvalidOperationException ex)
        {
            return ExportOutcome.Permanent(ex.Message);
        }

        if (request.Destination.Compression == DestinationCompression.Gzip)
        {
            headers.Add(RequestEncodingHeader, "gzip");
        }

        var channel = _channels.GetOrAdd(endpoint.GetLeftPart(UriPartial.Authority), static (address) => CreateChannel(address));
        var invoker = channel.CreateCallInvoker();
        var method = request.Signal switch
        {
            Signal.Traces => TracesExport,
            Signal.Metrics => MetricsExport,
            _ => LogsExport,
        };
        try
        {
            using var call = invoker.AsyncUnaryCall(method, null, new CallOptions(headers, cancellationToken: cancellationToken), new RawRequest(request.Protobuf));
            byte[] response = await call.ResponseAsync;
            return OtlpExportResponse.FromProtobuf(request.Signal, response);
        }
        catch (RpcException ex)
        {
            var retryDelay = OtlpRetryRules.RetryInfoDelay(ex);
            var status = OtlpRetryRules.Classify(ex.StatusCode, retryDelay != null);
            string message = $"gRPC {ex.StatusCode}: {ex.Status.Detail}";
            return status == ExportStatus.Transient ? ExportOutcome.Transient(message, retryDelay) : ExportOutcome.Permanent(message);
        }
    }

    public void Dispose()
    {
        foreach (var channel in _channels.Values)
        {
            channel.Dispose();
        }

        _channels.Clear();
    }

    private static GrpcChannel CreateChannel(string address) => GrpcChannel.ForAddress(address, new GrpcChannelOptions
    {
        HttpHandler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
            KeepAlivePingDelay = TimeSpan.FromSeconds(60),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(20),
        },
        // The resilience pipeline owns retries and timeouts: a cancelled call is an OperationCanceledException.
        ThrowOperationCanceledOnCancellation = true,
        MaxRetryAttempts = 0,
        MaxReceiveMessageSize = 4 * 1024 * 1024,
        MaxSendMessageSize = null,
    });

    private static Method<RawRequest, byte[]> Export(string service) =>
        new(MethodType.Unary, service, "Export", RequestMarshaller, ResponseMarshaller);

    /// <summary>The already-encoded request (gRPC's generic call API wants a reference type).</summary>
    private sealed record RawRequest(ReadOnlyMemory<byte> Bytes);
}
