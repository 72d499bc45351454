using System.Buffers;
using Google.Protobuf;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using OpenTelemetry.Proto.Collector.Trace.V1;
using ServerlessOtlp.Gateway.Ingest;
using ServerlessOtlp.Gateway.Security;
using ServerlessOtlp.Gateway.Telemetry;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Json;

namespace ServerlessOtlp.Gateway.Protocol;

/// <summary>
/// OTLP/HTTP: <c>POST /v1/traces|metrics|logs</c>, protobuf or JSON, optionally gzip; the answer
/// is in the request's encoding, and every 4xx/5xx carries a <c>google.rpc.Status</c>.
/// </summary>
internal sealed class OtlpHttpEndpoints(IngestService ingest, RequestAuthenticator authenticator, GatewayOptions options, GatewayMetrics metrics, TimeProvider time)
{
    private const string Protobuf = "application/x-protobuf";
    private const string Json = "application/json";

    private static readonly JsonFormatter ResponseJson = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(false));

    public async Task HandleAsync(HttpContext http)
    {
        long start = time.GetTimestamp();
        bool json = IsJson(http.Request.ContentType);
        string? name = http.Request.RouteValues["signal"] as string;
        if (!SignalNames.TryParse(name, out var signal))
        {
            await WriteFailure(http, json, IngestResult.Fail(IngestOutcome.NotFound, $"unknown path {http.Request.Path}; OTLP/HTTP serves /v1/traces, /v1/metrics and /v1/logs"));
            return;
        }

        if (!HttpMethods.IsPost(http.Request.Method))
        {
            http.Response.Headers.Allow = "POST";
            await WriteFailure(http, json, IngestResult.Fail(IngestOutcome.MethodNotAllowed, $"{http.Request.Method} is not allowed; use POST"));
            return;
        }

        var result = await HandleExportAsync(http, signal, json);
        metrics.RecordRequest(time.GetElapsedTime(start), "http");
        if (result.Outcome != IngestOutcome.Ok)
        {
            await WriteFailure(http, json, result);
            return;
        }

        http.Response.StatusCode = 200;
        http.Response.ContentType = json ? Json : Protobuf;
        var body = OtlpGrpcService.Response(signal, result);
        if (json)
        {
            await http.Response.WriteAsync(body.Length == 0 ? "{}" : ResponseJson.Format(ParseResponse(signal, body)));
        }
        else
        {
            await http.Response.Body.WriteAsync(body);
        }
    }

    private async Task<IngestResult> HandleExportAsync(HttpContext http, Signal signal, bool json)
    {
        var mediaType = MediaType(http.Request.ContentType);
        if (!mediaType.Equals(Protobuf, StringComparison.OrdinalIgnoreCase) && !mediaType.Equals(Json, StringComparison.OrdinalIgnoreCase))
        {
            return IngestResult.Fail(IngestOutcome.UnsupportedMediaType, $"unsupported content type \"{http.Request.ContentType}\"; use {Protobuf} or {Json}");
        }

        var auth = await authenticator.AuthenticateAsync(http, signal, http.RequestAborted);
        if (!auth.Succeeded)
        {
            return auth.Failure;
        }

        var tenant = auth.Tenant!;
        using var memory = new RequestMemory(ingest.Budget, tenant.Id);
        StringValues encoding = http.Request.Headers.ContentEncoding;
        bool gzip = false;
        if (!StringValues.IsNullOrEmpty(encoding))
        {
            string e = encoding.ToString().Trim();
            if (e.Equals("gzip", StringComparison.OrdinalIgnoreCase))
            {
                gzip = true;
            }
            else if (!e.Equals("identity", StringComparison.OrdinalIgnoreCase))
            {
                return IngestResult.Fail(IngestOutcome.UnsupportedMediaType, $"unsupported content encoding \"{e}\"; use gzip or none");
            }
        }

        if (http.Request.ContentLength > options.MaxRequestBytes)
        {
            // The body is never read, so Kestrel cannot reuse the connection: say so, or the client's next request on it fails with no answer.
            http.Response.Headers.Connection = "close";
            return IngestResult.Fail(IngestOutcome.TooLarge, $"request body of {http.Request.ContentLength} bytes exceeds the limit of {options.MaxRequestBytes}");
        }

        byte[]? buffer = null;
        try
        {
            int length;
            try
            {
                (buffer, length) = await ReadBodyAsync(http, gzip, memory);
            }
            catch (BoundedRequestBody.TooLargeException ex)
            {
                return IngestResult.Fail(IngestOutcome.TooLarge, ex.Message);
            }
            catch (BoundedRequestBody.BudgetFullException)
            {
                metrics.Refused(tenant.Id, signal, "overloaded", 1);
                return IngestResult.Fail(IngestOutcome.Overloaded, "gateway is at its in-flight limit; retry later", TimeSpan.FromSeconds(options.RetryAfterSeconds));
            }
            catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                return IngestResult.Fail(IngestOutcome.TooLarge, $"request body exceeds the limit of {options.MaxRequestBytes} bytes");
            }
            catch (InvalidDataException ex)
            {
                return IngestResult.Fail(IngestOutcome.InvalidArgument, "body is not valid gzip: " + ex.Message);
            }

            ReadOnlyMemory<byte> protobuf = buffer.AsMemory(0, length);
            if (json)
            {
                // The conversion builds the message's object graph: reserve for it before, keep the protobuf after.
                long conversion = (long)length * JsonConversionFactor;
                if (!memory.TryGrow(conversion))
                {
                    metrics.Refused(tenant.Id, signal, "overloaded", 1);
                    return IngestResult.Fail(IngestOutcome.Overloaded, "gateway is at its in-flight limit; retry later", TimeSpan.FromSeconds(options.RetryAfterSeconds));
                }

                try
                {
                    protobuf = OtlpJson.JsonToProtobuf(signal, protobuf.Span);
                }
                catch (OtlpJsonException ex)
                {
                    metrics.Refused(tenant.Id, signal, "invalid", 1);
                    return IngestResult.Fail(IngestOutcome.InvalidArgument, "invalid OTLP/JSON: " + ex.Message);
                }

                memory.Shrink(conversion - protobuf.Length);
            }

            return await ingest.IngestAsync(tenant.Id, tenant.Limits, signal, protobuf, length, memory);
        }
        finally
        {
            if (buffer != null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private Task<(byte[] Buffer, int Length)> ReadBodyAsync(HttpContext http, bool gzip, RequestMemory memory)
    {
        int initial = (int)Math.Clamp(http.Request.ContentLength ?? 16 * 1024, 1024, 4 * 1024 * 1024);
        if (gzip)
        {
            initial = Math.Min(initial * 4, 16 * 1024 * 1024);
        }

        return BoundedRequestBody.ReadAsync(http, gzip, options.MaxRequestBytes, options.MaxDecompressedBytes, initial, memory);
    }

    /// <summary>Writes a failure: the status code, Retry-After when retrying helps, and a google.rpc.Status body.</summary>
    public static async Task WriteFailure(HttpContext http, bool json, IngestResult result)
    {
        var answer = OtlpAnswers.For(result.Outcome);
        http.Response.StatusCode = answer.HttpStatus;
        if (answer.Retryable)
        {
            http.Response.Headers.RetryAfter = OtlpAnswers.RetryAfterSeconds(result).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        var status = OtlpAnswers.ToStatus(result);
        if (json)
        {
            http.Response.ContentType = Json;
            await http.Response.WriteAsync(OtlpAnswers.StatusJson.Format(status));
        }
        else
        {
            http.Response.ContentType = Protobuf;
            await http.Response.Body.WriteAsync(status.ToByteArray());
        }
    }

    public static bool IsJson(string? contentType) => MediaType(contentType).Equals(Json, StringComparison.OrdinalIgnoreCase);

    private static string MediaType(string? contentType) =>
        contentType != null && MediaTypeHeaderValue.TryParse(contentType, out var parsed) ? parsed.MediaType.Value ?? "" : "";

    private static IMessage ParseResponse(Signal signal, byte[] body) => signal switch
    {
        Signal.Traces => ExportTraceServiceResponse.Parser.ParseFrom(body),
        Signal.Metrics => ExportMetricsServiceResponse.Parser.ParseFrom(body),
        _ => ExportLogsServiceResponse.Parser.ParseFrom(body),
    };

    /// <summary>
    /// What converting OTLP/JSON to protobuf may hold, per byte of JSON: the rewritten text, the message's
    /// object graph (UTF-16 strings, one object per attribute and value) and the protobuf. Measured on SDK-shaped
    /// requests (BENCHMARKS.md, gateway) with room to spare.
    /// </summary>
    internal const int JsonConversionFactor = 6;
}
