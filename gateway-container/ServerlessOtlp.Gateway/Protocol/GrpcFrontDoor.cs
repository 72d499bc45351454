using Google.Protobuf;
using Microsoft.AspNetCore.Http.Features;
using ServerlessOtlp.Gateway.Ingest;
using ServerlessOtlp.Gateway.Security;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Gateway.Protocol;

/// <summary>
/// Runs before grpc-dotnet for every gRPC request. grpc-dotnet reads (and decompresses) the whole
/// message before a service method or an interceptor runs, so the API key is checked here, from the
/// headers alone: a client without a valid key gets a trailers-only UNAUTHENTICATED and none of its
/// body is read. The wire size is checked here too, from the 5-byte frame header, before the message
/// is read: grpc-dotnet applies its one <c>MaxReceiveMessageSize</c> to the message before and after
/// decompression, so it is set to the larger of the two limits, and Kestrel's body limit is lifted
/// for gRPC because, when it trips first (it depends on how much of the body arrived before the
/// first read), grpc-dotnet answers UNKNOWN instead of RESOURCE_EXHAUSTED.
/// </summary>
internal sealed class GrpcFrontDoor(RequestAuthenticator authenticator, GatewayOptions options, IngestService ingest, Telemetry.GatewayMetrics metrics)
{
    // A gRPC message is framed as: 1 byte compressed flag, 4 bytes big-endian length, the message.
    private const int FrameHeaderBytes = 5;

    public const string ContentTypePrefix = "application/grpc";

    public static bool IsGrpc(HttpRequest request) =>
        request.ContentType?.StartsWith(ContentTypePrefix, StringComparison.OrdinalIgnoreCase) == true;

    public async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        if (!IsGrpc(http.Request))
        {
            await next(http);
            return;
        }

        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = null; // the gRPC message limit decides, from the frame header (see above)
        }

        var signal = SignalOf(http.Request.Path);
        if (signal == null)
        {
            await next(http); // not an OTLP method: grpc-dotnet answers UNIMPLEMENTED without reading a message
            return;
        }

        var auth = await authenticator.AuthenticateAsync(http, signal, http.RequestAborted);
        if (!auth.Succeeded)
        {
            WriteTrailersOnly(http, auth.Failure);
            return;
        }

        long? length = await PeekMessageLengthAsync(http.Request.BodyReader, http.RequestAborted);
        if (length > options.GrpcWireLimit)
        {
            WriteTrailersOnly(http, IngestResult.Fail(IngestOutcome.TooLarge, $"request message of {length} bytes exceeds the limit of {options.GrpcWireLimit} bytes"));
            return;
        }

        // The message is held twice (grpc-dotnet's buffer, then ours): reserve that before grpc-dotnet reads it.
        using var memory = new RequestMemory(ingest.Budget, auth.Tenant!.Id);
        if (length is long l && !memory.TryGrow(2 * (l + FrameHeaderBytes)))
        {
            metrics.Refused(auth.Tenant.Id, signal.Value, "overloaded", 1);
            WriteTrailersOnly(http, IngestResult.Fail(IngestOutcome.Overloaded, "gateway is at its in-flight limit; retry later", TimeSpan.FromSeconds(options.RetryAfterSeconds)));
            return;
        }

        http.Features.Set(new AuthenticatedTenant(auth.Tenant!, memory));
        RequestMemory.Current = memory; // for LimitedGzipProvider, which grpc-dotnet gives no context
        try
        {
            await next(http);
        }
        finally
        {
            RequestMemory.Current = null;
        }
    }

    /// <summary>The length in the first frame header, leaving the body unread for grpc-dotnet; null when the body ends first.</summary>
    private static async ValueTask<long?> PeekMessageLengthAsync(System.IO.Pipelines.PipeReader body, CancellationToken cancellationToken)
    {
        var read = await body.ReadAtLeastAsync(FrameHeaderBytes, cancellationToken);
        var buffer = read.Buffer;
        try
        {
            if (buffer.Length < FrameHeaderBytes)
            {
                return null; // grpc-dotnet answers an incomplete message itself
            }

            Span<byte> header = stackalloc byte[FrameHeaderBytes];
            System.Buffers.BuffersExtensions.CopyTo(buffer.Slice(0, FrameHeaderBytes), header);
            return System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
        }
        finally
        {
            body.AdvanceTo(buffer.Start); // nothing consumed, nothing examined: the next read sees it all again
        }
    }

    private static Signal? SignalOf(PathString path) => path.Value switch
    {
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export" => Signal.Traces,
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export" => Signal.Metrics,
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export" => Signal.Logs,
        _ => null,
    };

    /// <summary>A gRPC answer without a message: status in the response headers, no body, no trailers.</summary>
    private static void WriteTrailersOnly(HttpContext http, in IngestResult failure)
    {
        var status = OtlpAnswers.ToStatus(failure);
        var response = http.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = ContentTypePrefix;
        response.Headers["grpc-status"] = status.Code.ToString(System.Globalization.CultureInfo.InvariantCulture);
        response.Headers["grpc-message"] = Uri.EscapeDataString(status.Message);
        if (status.Details.Count > 0)
        {
            response.Headers["grpc-status-details-bin"] = Convert.ToBase64String(status.ToByteArray()).TrimEnd('=');
        }
    }
}

/// <summary>The tenant <see cref="GrpcFrontDoor"/> authenticated and what the request holds of the in-flight budget, for the service method.</summary>
internal sealed record AuthenticatedTenant(TenantConfig Tenant, RequestMemory Memory);
