using System.IO.Compression;
using System.Net.Http.Headers;
using ServerlessOtlp.Export.Egress;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Json;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Export;

/// <summary>
/// The <c>otlphttp</c> destination: <c>POST {endpoint}/v1/{signal}</c>, protobuf by default or
/// OTLP/JSON (<see cref="DestinationConfig.Encoding"/>), optionally gzip, over the
/// <see cref="EgressClients"/>' connections (the egress policy, no redirects, answers read up to 64 KiB).
/// </summary>
public sealed class OtlpHttpExporter : IDestinationExporter
{
    private readonly EgressClients _egress;
    private readonly DestinationHeaders _headers;
    private readonly TimeProvider _time;

    /// <param name="egress">Connections behind the egress policy; by default the production policy (public addresses only), refusing loopback.</param>
    /// <param name="headers">Secrets and pinned headers; by default none resolvable.</param>
    public OtlpHttpExporter(EgressClients? egress = null, DestinationHeaders? headers = null, TimeProvider? time = null)
    {
        _egress = egress ?? new EgressClients();
        _headers = headers ?? new DestinationHeaders(egress: _egress.Policy);
        _time = time ?? TimeProvider.System;
    }

    public DestinationKind Kind => DestinationKind.OtlpHttp;

    /// <summary>The URL for <paramref name="signal"/>: the endpoint as given when it already names the signal's path, else <c>/v1/{signal}</c> appended.</summary>
    public static Uri SignalUrl(string endpoint, Signal signal)
    {
        string path = "/v1/" + signal.ToName();
        string trimmed = endpoint.TrimEnd('/');
        if (trimmed.EndsWith(path, StringComparison.Ordinal))
        {
            return new Uri(trimmed);
        }

        foreach (var other in (ReadOnlySpan<Signal>)[Signal.Traces, Signal.Metrics, Signal.Logs])
        {
            string otherPath = "/v1/" + other.ToName();
            if (trimmed.EndsWith(otherPath, StringComparison.Ordinal))
            {
                // One destination for several signals written with one signal's URL: swap the suffix.
                return new Uri(trimmed[..^otherPath.Length] + path);
            }
        }

        return new Uri(trimmed + path);
    }

    public async Task<ExportOutcome> ExportAsync(ExportRequest request, CancellationToken cancellationToken = default)
    {
        var destination = request.Destination;
        if (!Uri.TryCreate(destination.Endpoint, UriKind.Absolute, out _))
        {
            return ExportOutcome.Permanent("otlphttp destination has no valid endpoint");
        }

        var headers = await _headers.ResolveAsync(request.Tenant.Id, destination, cancellationToken);
        if (headers.Failure is { } failure)
        {
            return failure;
        }

        bool json = destination.Encoding == DestinationEncoding.Json;
        using var message = new HttpRequestMessage(HttpMethod.Post, SignalUrl(destination.Endpoint!, request.Signal));
        foreach (var (name, value) in headers.Headers)
        {
            message.Headers.TryAddWithoutValidation(name, value);
        }

        ReadOnlyMemory<byte> body = json ? OtlpJson.ProtobufToJson(request.Signal, request.Protobuf.Span) : request.Protobuf;
        if (destination.Compression == DestinationCompression.Gzip)
        {
            body = Gzip(body.Span);
        }

        var content = new ReadOnlyMemoryContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue(json ? "application/json" : "application/x-protobuf");
        if (destination.Compression == DestinationCompression.Gzip)
        {
            content.Headers.ContentEncoding.Add("gzip");
        }

        message.Content = content;
        HttpResponseMessage response;
        try
        {
            response = await _egress.HttpClientFor(request.Tenant.Id).SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (HttpRequestException ex) when (EgressRefusedException.In(ex) is { } refused)
        {
            return ExportOutcome.Permanent(refused.Message);
        }
        catch (HttpRequestException ex)
        {
            // Connection refused, reset, DNS: the OTLP specification treats these as retryable.
            return ExportOutcome.Transient("HTTP request failed: " + ex.Message);
        }

        using (response)
        {
            int code = (int)response.StatusCode;
            if (code is >= 300 and < 400)
            {
                return ExportOutcome.Permanent(BoundedContent.RedirectMessage(response));
            }

            var status = OtlpRetryRules.Classify(code);
            var (responseBody, truncated) = await BoundedContent.ReadAsync(response.Content, cancellationToken);
            if (truncated)
            {
                // Not a partial-success answer (those are small): the data was taken, the rest is not read.
                responseBody = [];
            }

            if (status == ExportStatus.Success)
            {
                bool jsonAnswer = response.Content.Headers.ContentType?.MediaType?.Contains("json", StringComparison.OrdinalIgnoreCase) ?? json;
                return jsonAnswer
                    ? OtlpExportResponse.FromJson(request.Signal, responseBody)
                    : OtlpExportResponse.FromProtobuf(request.Signal, responseBody);
            }

            string text = $"HTTP {code} {response.ReasonPhrase}";
            if (status == ExportStatus.Transient)
            {
                return ExportOutcome.Transient(text, OtlpRetryRules.RetryAfter(response.Headers.RetryAfter, _time.GetUtcNow()));
            }

            return ExportOutcome.Permanent(text);
        }
    }

    internal static byte[] Gzip(ReadOnlySpan<byte> data)
    {
        var output = new MemoryStream(data.Length / 4 + 64);
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(data);
        }

        return output.ToArray();
    }
}
