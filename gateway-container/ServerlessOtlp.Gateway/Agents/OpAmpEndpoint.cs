using System.Buffers;
using Google.Protobuf;
using Microsoft.Net.Http.Headers;
using OpAmp.Proto.V1;
using ServerlessOtlp.Gateway.Ingest;
using ServerlessOtlp.Gateway.Protocol;
using ServerlessOtlp.Gateway.Security;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Gateway.Agents;

/// <summary>
/// OpAMP over plain HTTP (<c>POST /v1/opamp</c>, opamp-spec "Plain HTTP Transport") on the OTLP/HTTP port.
/// In the order OTLP/HTTP uses, so that the same limits hold: the tenant's key is checked from the headers
/// before any of the body is read (same failed-auth throttling, 401/429), the body is read into memory reserved
/// from the in-flight budget (503 + Retry-After when full), capped on the wire and after gzip (413), then
/// parsed. Past authentication OpAMP's own rules apply: a message that does not parse, or breaks the server's
/// limits, is answered 200 with <c>error_response</c> BAD_REQUEST. Every answer is
/// <c>Content-Type: application/x-protobuf</c> exactly (clients compare the string).
/// </summary>
internal sealed class OpAmpEndpoint(AgentRegistry registry, RequestAuthenticator authenticator, IngestService ingest, GatewayOptions options, OpAmpMetrics metrics, ILogger<OpAmpEndpoint> log)
{
    public const string Path = "/v1/opamp";
    public const string InstanceUidHeader = "OpAMP-Instance-UID";
    private const string Protobuf = "application/x-protobuf";

    private readonly string _endpoint = (options.PublicUrl ?? $"http://127.0.0.1:{options.HttpPort}").TrimEnd('/');

    public async Task HandleAsync(HttpContext http)
    {
        if (!HttpMethods.IsPost(http.Request.Method))
        {
            // WebSocket transport is not offered: HTTP polling only.
            http.Response.Headers.Allow = "POST";
            await FailAsync(http, 405, "use POST with application/x-protobuf (the plain HTTP transport); WebSocket is not served", "method");
            return;
        }

        if (!MediaTypeHeaderValue.TryParse(http.Request.ContentType, out var media) || !media.MediaType.Equals(Protobuf, StringComparison.OrdinalIgnoreCase))
        {
            await FailAsync(http, 415, $"unsupported content type \"{http.Request.ContentType}\"; OpAMP over HTTP is {Protobuf}", "media_type");
            return;
        }

        var auth = await authenticator.AuthenticateAsync(http, null, http.RequestAborted);
        if (!auth.Succeeded)
        {
            var answer = OtlpAnswers.For(auth.Failure.Outcome);
            await FailAsync(http, answer.HttpStatus, auth.Failure.Message ?? "unauthenticated", "auth", answer.Retryable ? OtlpAnswers.RetryAfterSeconds(auth.Failure) : null);
            return;
        }

        var tenant = auth.Tenant!;
        string key = ApiKeys.FromHeaders(http.Request.Headers[ApiKeys.ApiKeyHeader], http.Request.Headers.Authorization)!;
        bool gzip = false;
        string encoding = http.Request.Headers.ContentEncoding.ToString().Trim();
        if (encoding.Equals("gzip", StringComparison.OrdinalIgnoreCase))
        {
            gzip = true;
        }
        else if (encoding.Length > 0 && !encoding.Equals("identity", StringComparison.OrdinalIgnoreCase))
        {
            await FailAsync(http, 415, $"unsupported content encoding \"{encoding}\"; use gzip or none", "media_type");
            return;
        }

        int limit = options.OpAmp.MaxRequestBytes;
        if (http.Request.ContentLength > limit)
        {
            http.Response.Headers.Connection = "close"; // the body is not read
            await FailAsync(http, 413, $"request body of {http.Request.ContentLength} bytes exceeds the limit of {limit}", "too_large");
            return;
        }

        await ReceiveAsync(http, tenant, key, gzip, limit);
    }

    /// <summary>Reads and parses the body within the tenant's memory grant, and answers with the registry's exchange.</summary>
    private async Task ReceiveAsync(HttpContext http, TenantConfig tenant, string key, bool gzip, int limit)
    {
        using var memory = new RequestMemory(ingest.Budget, tenant.Id);
        byte[]? buffer = null;
        try
        {
            int length;
            try
            {
                (buffer, length) = await ReadAsync(http, gzip, limit, memory);
            }
            catch (BoundedRequestBody.TooLargeException ex)
            {
                http.Response.Headers.Connection = "close";
                await FailAsync(http, 413, ex.Message, "too_large");
                return;
            }
            catch (BoundedRequestBody.BudgetFullException)
            {
                await FailAsync(http, 503, "gateway is at its in-flight limit; retry later", "overloaded", options.RetryAfterSeconds);
                return;
            }
            catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                await FailAsync(http, 413, $"request body exceeds the limit of {limit} bytes", "too_large");
                return;
            }
            catch (InvalidDataException ex)
            {
                await AnswerAsync(http, AgentRegistry.BadRequest(HeaderReply(http), "body is not valid gzip: " + ex.Message), "bad_request");
                return;
            }

            AgentToServer message;
            try
            {
                message = AgentToServer.Parser.ParseFrom(buffer, 0, length);
            }
            catch (InvalidProtocolBufferException ex)
            {
                await AnswerAsync(http, AgentRegistry.BadRequest(HeaderReply(http), "AgentToServer does not parse: " + ex.Message), "bad_request");
                return;
            }

            if (HeaderUid(http) is { } headerUid && !message.InstanceUid.IsEmpty && !headerUid.Span.SequenceEqual(message.InstanceUid.Span))
            {
                await AnswerAsync(http, AgentRegistry.BadRequest(new ServerToAgent { InstanceUid = message.InstanceUid },
                    $"the {InstanceUidHeader} header and instance_uid name different agents"), "bad_request");
                return;
            }

            AgentExchange exchange;
            try
            {
                exchange = await registry.ExchangeAsync(tenant, key, _endpoint, message, http.RequestAborted);
            }
            catch (BadAgentMessageException ex)
            {
                await AnswerAsync(http, AgentRegistry.BadRequest(new ServerToAgent { InstanceUid = message.InstanceUid }, ex.Message), "bad_request");
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                log.LogWarning("OpAMP: the agents table is unreachable: {Error}", ex.Message);
                await FailAsync(http, 503, "the agents store is unreachable; retry later", "unavailable", options.RetryAfterSeconds);
                return;
            }

            if (exchange.QuotaRefusal is { } refusal)
            {
                // Retrying soon does not help: the quota frees when dead agents are removed. 429 with a long Retry-After.
                await FailAsync(http, 429, refusal, "quota", (int)options.OpAmp.QuotaRetryAfter.TotalSeconds);
                return;
            }

            await AnswerAsync(http, exchange.Answer, exchange.Answer.ErrorResponse is null ? "ok" : "bad_request");
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private async Task AnswerAsync(HttpContext http, ServerToAgent reply, string outcome)
    {
        metrics.Request(outcome);
        http.Response.StatusCode = 200;
        http.Response.ContentType = Protobuf;
        await http.Response.Body.WriteAsync(reply.ToByteArray(), http.RequestAborted);
    }

    /// <summary>
    /// A refusal outside OpAMP's own error rules (HTTP status, Retry-After when retrying helps); the body is a
    /// ServerToAgent whose error_response says why, for clients that read it.
    /// </summary>
    private async Task FailAsync(HttpContext http, int status, string message, string outcome, int? retryAfterSeconds = null)
    {
        metrics.Request(outcome);
        http.Response.StatusCode = status;
        if (retryAfterSeconds is { } seconds)
        {
            http.Response.Headers.RetryAfter = Math.Max(1, seconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        var reply = HeaderReply(http);
        reply.ErrorResponse = new ServerErrorResponse
        {
            Type = retryAfterSeconds is null ? ServerErrorResponseType.BadRequest : ServerErrorResponseType.Unavailable,
            ErrorMessage = message,
        };
        if (retryAfterSeconds is { } s)
        {
            reply.ErrorResponse.RetryInfo = new OpAmp.Proto.V1.RetryInfo { RetryAfterNanoseconds = (ulong)Math.Max(1, s) * 1_000_000_000UL };
        }

        http.Response.ContentType = Protobuf;
        await http.Response.Body.WriteAsync(reply.ToByteArray(), http.RequestAborted);
    }

    /// <summary>A reply addressed by the OpAMP-Instance-UID header, for when the body cannot say who is asking.</summary>
    private static ServerToAgent HeaderReply(HttpContext http) =>
        new() { InstanceUid = HeaderUid(http) ?? ByteString.Empty, Capabilities = AgentRegistry.ServerCapabilityBits };

    private static ByteString? HeaderUid(HttpContext http) =>
        Guid.TryParse(http.Request.Headers[InstanceUidHeader].ToString(), out var guid) ? ByteString.CopyFrom(guid.ToByteArray(bigEndian: true)) : null;

    /// <summary>The body as OTLP/HTTP reads it (<see cref="BoundedRequestBody"/>), at most <paramref name="limit"/> bytes on the wire and after gzip.</summary>
    private static Task<(byte[] Buffer, int Length)> ReadAsync(HttpContext http, bool gzip, int limit, RequestMemory memory) =>
        BoundedRequestBody.ReadAsync(http, gzip, limit, limit, (int)Math.Clamp((http.Request.ContentLength ?? 4096) * (gzip ? 4 : 1), 256, limit), memory);
}
