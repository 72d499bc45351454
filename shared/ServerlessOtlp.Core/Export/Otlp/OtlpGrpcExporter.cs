using System.Buffers;
using System.Collections.Concurrent;
using Grpc.Core;
using Grpc.Net.Client;
using ServerlessOtlp.Export.Egress;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Export.Otlp;

/// <summary>
/// The <c>otlp</c> destination: OTLP/gRPC. The event's protobuf bytes go out as they are (a raw
/// marshaller, no re-encoding); one <see cref="GrpcChannel"/> per (allow list, endpoint), kept for the
/// process, over the <see cref="EgressClients"/>' handler, so every connection passes the egress policy.
/// </summary>
internal sealed class OtlpGrpcExporter : IDestinationExporter, IDisposable
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

    /// <summary>An export answer is a small partial-success message; nothing larger is read.</summary>
    private const int MaxResponseBytes = BoundedContent.MaxBytes;

    private readonly ConcurrentDictionary<(string AllowList, string Authority), GrpcChannel> _channels = new();
    private readonly EgressClients _egress;
    private readonly DestinationHeaders _headers;

    public OtlpGrpcExporter(DestinationServices services)
    {
        _egress = services.Egress;
        _headers = services.Headers;
    }

    public string Kind => OtlpDestination.KindName;

    public async Task<ExportOutcome> ExportAsync(ExportRequest request, CancellationToken cancellationToken = default)
    {
        if (!Uri.TryCreate(request.Destination.Endpoint, UriKind.Absolute, out var endpoint))
        {
            return ExportOutcome.Permanent("otlp destination has no valid endpoint");
        }

        var resolved = await _headers.ResolveAsync(request.Tenant.Id, request.Destination, cancellationToken);
        if (resolved.Failure is { } failure)
        {
            return failure;
        }

        var headers = Headers(resolved.Headers, request.Destination.Compression);
        var invoker = InvokerFor(request.Tenant.Id, endpoint);
        var method = request.Signal switch
        {
            Signal.Traces => TracesExport,
            Signal.Metrics => MetricsExport,
            _ => LogsExport,
        };
        // The destination's timeout as the call's deadline, which the server sees too (grpc-timeout).
        var timeout = request.Destination.Timeout ?? HttpDestinationExporter.DefaultTimeout;
        try
        {
            using var call = invoker.AsyncUnaryCall(method, null, new CallOptions(headers, deadline: DateTime.UtcNow + timeout, cancellationToken: cancellationToken), new RawRequest(request.Protobuf));
            byte[] response = await call.ResponseAsync;
            return OtlpExportResponse.FromProtobuf(request.Signal, response);
        }
        catch (RpcException ex) when (EgressRefusedException.In(ex.Status.DebugException) is { } refused)
        {
            return ExportOutcome.Permanent(refused.Message);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.DeadlineExceeded && !cancellationToken.IsCancellationRequested)
        {
            return ExportOutcome.Transient($"otlp: no answer within {timeout.TotalSeconds:0.#} s");
        }
        catch (RpcException ex)
        {
            return Classify(ex);
        }
    }

    /// <summary>A call invoker on the channel to this authority for the tenant's egress allow list (channels are shared per list and authority).</summary>
    private CallInvoker InvokerFor(string tenantId, Uri endpoint)
    {
        var (allowList, handler) = _egress.GrpcHandlerFor(tenantId);
        var channel = _channels.GetOrAdd((allowList, endpoint.GetLeftPart(UriPartial.Authority)), static (key, handler) => CreateChannel(key.Authority, handler), handler);
        return channel.CreateCallInvoker();
    }

    /// <summary>The resolved headers as call metadata, with the request encoding when the destination compresses.</summary>
    private static Metadata Headers(IReadOnlyList<KeyValuePair<string, string>> resolved, DestinationCompression? compression)
    {
        var headers = new Metadata();
        foreach (var (name, value) in resolved)
        {
            headers.Add(name, value);
        }

        if (compression == DestinationCompression.Gzip)
        {
            headers.Add(RequestEncodingHeader, "gzip");
        }

        return headers;
    }

    /// <summary>A gRPC failure by the OTLP specification's rules: retryable codes (with RetryInfo's delay) or permanent.</summary>
    private static ExportOutcome Classify(RpcException ex)
    {
        var retryDelay = OtlpRetryRules.RetryInfoDelay(ex);
        var status = OtlpRetryRules.Classify(ex.StatusCode, retryDelay != null);
        string message = $"gRPC {ex.StatusCode}: {ex.Status.Detail}";
        return status == ExportStatus.Transient ? ExportOutcome.Transient(message, retryDelay) : ExportOutcome.Permanent(message);
    }

    public void Dispose()
    {
        foreach (var channel in _channels.Values)
        {
            channel.Dispose();
        }

        _channels.Clear();
    }

    private static GrpcChannel CreateChannel(string address, HttpMessageHandler handler) => GrpcChannel.ForAddress(address, new GrpcChannelOptions
    {
        // Shared with the other channels of the allow list; the EgressClients own it.
        HttpHandler = handler,
        DisposeHttpClient = false,

        // The resilience pipeline owns retries and timeouts: a cancelled call is an OperationCanceledException.
        ThrowOperationCanceledOnCancellation = true,
        MaxRetryAttempts = 0,
        MaxReceiveMessageSize = MaxResponseBytes,
        MaxSendMessageSize = null,
    });

    private static Method<RawRequest, byte[]> Export(string service) =>
        new(MethodType.Unary, service, "Export", RequestMarshaller, ResponseMarshaller);

    /// <summary>The already-encoded request (gRPC's generic call API wants a reference type).</summary>
    private sealed record RawRequest(ReadOnlyMemory<byte> Bytes);
}
