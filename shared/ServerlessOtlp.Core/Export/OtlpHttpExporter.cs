using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Json;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Export;

/// <summary>
/// The <c>otlphttp</c> destination: <c>POST {endpoint}/v1/{signal}</c>, protobuf by default or
/// OTLP/JSON (<see cref="DestinationConfig.Encoding"/>), optionally gzip. One shared connection pool.
/// </summary>
public sealed class OtlpHttpExporter : IDestinationExporter, IDisposable
{
    /// <summary>A partial-success or error body is small; a larger one is not read (the Collector caps it at 64 KiB too).</summary>
    private const int MaxResponseBytes = 64 * 1024;

    private readonly HttpClient _client;
    private readonly ISecretResolver? _secrets;
    private readonly TimeProvider _time;

    public OtlpHttpExporter(ISecretResolver? secrets = null, TimeProvider? time = null, HttpMessageHandler? handler = null)
    {
        _secrets = secrets;
        _time = time ?? TimeProvider.System;
        _client = new HttpClient(handler ?? new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            AutomaticDecompression = DecompressionMethods.GZip | DecompressionMethods.Deflate,
        })
        {
            // The resilience pipeline's timeout governs each attempt.
            Timeout = Timeout.InfiniteTimeSpan,
        };
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

        bool json = destination.Encoding == DestinationEncoding.Json;
        using var message = new HttpRequestMessage(HttpMethod.Post, SignalUrl(destination.Endpoint!, request.Signal));
        try
        {
            foreach (var (name, value) in DestinationHeaders.Resolve(destination, _secrets))
            {
                message.Headers.TryAddWithoutValidation(name, value);
            }
        }
        catch (InvalidOperationException ex)
        {
            return ExportOutcome.Permanent(ex.Message);
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
            response = await _client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (HttpRequestException ex)
        {
            // Connection refused, reset, DNS: the OTLP specification treats these as retryable.
            return ExportOutcome.Transient("HTTP request failed: " + ex.Message);
        }

        using (response)
        {
            int code = (int)response.StatusCode;
            var status = OtlpRetryRules.Classify(code);
            byte[] responseBody = await ReadBoundedAsync(response.Content, cancellationToken);
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

    public void Dispose() => _client.Dispose();

    internal static byte[] Gzip(ReadOnlySpan<byte> data)
    {
        var output = new MemoryStream(data.Length / 4 + 64);
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(data);
        }

        return output.ToArray();
    }

    private static async Task<byte[]> ReadBoundedAsync(HttpContent content, CancellationToken cancellationToken)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > MaxResponseBytes)
            {
                return [];
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }
}
