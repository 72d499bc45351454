using System.Buffers;
using Google.Protobuf;
using Grpc.AspNetCore.Server.Model;
using Grpc.Core;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using OpenTelemetry.Proto.Collector.Trace.V1;
using ServerlessOtlp.Gateway.Ingest;
using ServerlessOtlp.Gateway.Telemetry;
using ServerlessOtlp.Otlp;

namespace ServerlessOtlp.Gateway.Protocol;

/// <summary>
/// The three OTLP/gRPC Export methods, bound to raw bytes so that the hot path never
/// materializes spans: the request is copied once out of the transport into a pooled buffer.
/// </summary>
internal sealed class OtlpGrpcService(IngestService ingest, GatewayMetrics metrics, TimeProvider time)
{
    internal async Task<byte[]> ExportAsync(Signal signal, RawRequest request, ServerCallContext context)
    {
        long start = time.GetTimestamp();
        try
        {
            // GrpcFrontDoor authenticated the request before its message was read.
            var authenticated = context.GetHttpContext().Features.Get<AuthenticatedTenant>()
                ?? throw new InvalidOperationException("a gRPC export reached the service without GrpcFrontDoor");
            var tenant = authenticated.Tenant;
            var result = await ingest.IngestAsync(tenant.Id, tenant.Limits, signal, request.Memory, memory: authenticated.Memory);
            if (result.Outcome != IngestOutcome.Ok)
            {
                throw OtlpAnswers.ToRpcException(result);
            }

            return Response(signal, result);
        }
        finally
        {
            request.Dispose();
            metrics.RecordRequest(time.GetElapsedTime(start), "grpc");
        }
    }

    internal static byte[] Response(Signal signal, in IngestResult result)
    {
        if (result.Rejected == 0)
        {
            return []; // an empty Export*ServiceResponse: full success
        }

        IMessage response = signal switch
        {
            Signal.Traces => new ExportTraceServiceResponse { PartialSuccess = new ExportTracePartialSuccess { RejectedSpans = result.Rejected, ErrorMessage = result.Message ?? "" } },
            Signal.Metrics => new ExportMetricsServiceResponse { PartialSuccess = new ExportMetricsPartialSuccess { RejectedDataPoints = result.Rejected, ErrorMessage = result.Message ?? "" } },
            _ => new ExportLogsServiceResponse { PartialSuccess = new ExportLogsPartialSuccess { RejectedLogRecords = result.Rejected, ErrorMessage = result.Message ?? "" } },
        };
        return response.ToByteArray();
    }
}

/// <summary>A request body in a pooled buffer.</summary>
internal sealed class RawRequest(byte[] buffer, int length) : IDisposable
{
    private byte[]? _buffer = buffer;

    public ReadOnlyMemory<byte> Memory => (_buffer ?? throw new ObjectDisposedException(nameof(RawRequest))).AsMemory(0, length);

    public void Dispose()
    {
        var b = Interlocked.Exchange(ref _buffer, null);
        if (b != null)
        {
            ArrayPool<byte>.Shared.Return(b);
        }
    }
}

/// <summary>Registers the Export methods with raw marshallers.</summary>
internal sealed class OtlpGrpcMethodProvider : IServiceMethodProvider<OtlpGrpcService>
{
    private static readonly Marshaller<RawRequest> RequestMarshaller = Marshallers.Create<RawRequest>(
        (_, _) => throw new NotSupportedException("the gateway never sends requests"),
        ctx =>
        {
            var payload = ctx.PayloadAsReadOnlySequence();
            var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Max(1, payload.Length));
            payload.CopyTo(buffer);
            return new RawRequest(buffer, (int)payload.Length);
        });

    private static readonly Marshaller<byte[]> ResponseMarshaller = Marshallers.Create<byte[]>(
        (bytes, ctx) => ctx.Complete(bytes),
        ctx => ctx.PayloadAsNewBuffer());

    public static readonly Method<RawRequest, byte[]> Traces = new(MethodType.Unary, "opentelemetry.proto.collector.trace.v1.TraceService", "Export", RequestMarshaller, ResponseMarshaller);
    public static readonly Method<RawRequest, byte[]> Metrics = new(MethodType.Unary, "opentelemetry.proto.collector.metrics.v1.MetricsService", "Export", RequestMarshaller, ResponseMarshaller);
    public static readonly Method<RawRequest, byte[]> Logs = new(MethodType.Unary, "opentelemetry.proto.collector.logs.v1.LogsService", "Export", RequestMarshaller, ResponseMarshaller);

    public void OnServiceMethodDiscovery(ServiceMethodProviderContext<OtlpGrpcService> context)
    {
        context.AddUnaryMethod(Traces, [], (svc, req, ctx) => svc.ExportAsync(Signal.Traces, req, ctx));
        context.AddUnaryMethod(Metrics, [], (svc, req, ctx) => svc.ExportAsync(Signal.Metrics, req, ctx));
        context.AddUnaryMethod(Logs, [], (svc, req, ctx) => svc.ExportAsync(Signal.Logs, req, ctx));
    }
}
