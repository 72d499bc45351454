using System.IO.Compression;
using System.Net.Http.Headers;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Json;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Export.Otlp;

/// <summary>
/// The <c>otlphttp</c> destination: <c>POST {endpoint}/v1/{signal}</c>, protobuf by default or
/// OTLP/JSON (<see cref="OtlpHttpSettings.Encoding"/>), optionally gzip; status codes classified by
/// the OTLP specification (<see cref="OtlpRetryRules"/>), partial success read from the answer.
/// </summary>
internal sealed class OtlpHttpExporter(DestinationServices services) : HttpDestinationExporter(services)
{
    public override string Kind => OtlpHttpDestination.KindName;

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

    protected override async Task<ExportOutcome> ExportAsync(ExportRequest request, HttpExportSession session)
    {
        var destination = request.Destination;
        if (!TryEndpoint(destination.Endpoint, "/", out _))
        {
            return ExportOutcome.Permanent("otlphttp destination has no valid endpoint");
        }

        bool json = OtlpHttpDestination.SettingsOf(destination).Encoding == DestinationEncoding.Json;
        bool gzip = destination.Compression == DestinationCompression.Gzip;
        ReadOnlyMemory<byte> body = json ? OtlpJson.ProtobufToJson(request.Signal, request.Protobuf.Span) : request.Protobuf;
        if (gzip)
        {
            body = Gzip(body.Span);
        }

        var content = new ReadOnlyMemoryContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue(json ? "application/json" : "application/x-protobuf");
        if (gzip)
        {
            content.Headers.ContentEncoding.Add("gzip");
        }

        var answer = await session.PostAsync(SignalUrl(destination.Endpoint!, request.Signal), content);
        if (answer.Failure is { } failure)
        {
            return failure;
        }

        var status = OtlpRetryRules.Classify(answer.Status);
        if (status == ExportStatus.Success)
        {
            // A body past the cap is not a partial-success answer (those are small): the data was taken.
            byte[] partial = answer.Truncated ? [] : answer.Body;
            bool jsonAnswer = answer.MediaType?.Contains("json", StringComparison.OrdinalIgnoreCase) ?? json;
            return jsonAnswer ? OtlpExportResponse.FromJson(request.Signal, partial) : OtlpExportResponse.FromProtobuf(request.Signal, partial);
        }

        string text = $"HTTP {answer.Status} {answer.Reason}";
        return status == ExportStatus.Transient
            ? ExportOutcome.Transient(text, answer.RetryAfter(Now))
            : ExportOutcome.Permanent(text);
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
