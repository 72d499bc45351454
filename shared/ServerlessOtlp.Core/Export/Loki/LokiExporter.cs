using System.Globalization;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using OpenTelemetry.Proto.Collector.Logs.V1;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tenants;
using Snappier;

namespace ServerlessOtlp.Export.Loki;

internal sealed record LokiOptions
{
    /// <summary>Send trace/span ids, severity and attributes as structured metadata (Loki 3 and later; older Loki refuses it).</summary>
    public bool StructuredMetadata { get; init; } = true;
}

/// <summary>
/// The <c>loki</c> destination: Loki's push API (<c>POST /loki/api/v1/push</c>), protobuf with
/// snappy by default (Loki's native form), JSON with <c>"encoding": "json"</c>. Tenancy
/// goes in the destination's headers (<c>X-Scope-OrgID</c>). Entries Loki refuses as too old or
/// out of order are counted as rejected, not retried: Loki keeps the rest of the request.
/// </summary>
internal sealed partial class LokiExporter(DestinationServices services, LokiOptions? options = null) : HttpDestinationExporter(services)
{
    /// <summary>Used when the endpoint has no path.</summary>
    public const string DefaultPath = "/loki/api/v1/push";

    private readonly LokiOptions _options = options ?? new LokiOptions();

    public override string Kind => LokiDestination.KindName;

    protected override async Task<ExportOutcome> ExportAsync(ExportRequest request, HttpExportSession session)
    {
        if (request.Message is not ExportLogsServiceRequest logs)
        {
            return ExportOutcome.Permanent($"loki carries logs only, not {request.Signal.ToName()}");
        }

        if (!TryEndpoint(request.Destination.Endpoint, DefaultPath, out var endpoint))
        {
            return ExportOutcome.Permanent("loki destination has no valid http(s) endpoint");
        }

        var settings = LokiDestination.SettingsOf(request.Destination);
        bool json = settings.Encoding == DestinationEncoding.Json;
        var push = json
            ? LokiPushRequest.Build(logs, settings.Labels, _options.StructuredMetadata, Services.Time)
            : LokiPushRequest.BuildProtobuf(logs, settings.Labels, _options.StructuredMetadata, Services.Time);
        if (push.Entries == 0)
        {
            return ExportOutcome.Ok;
        }

        // Protobuf goes snappy block-compressed (not the framed stream) and without a
        // Content-Encoding header, as Promtail and Alloy send it: Loki always unsnappies it.
        var content = new ByteArrayContent(json ? push.Body : Snappy.CompressToArray(push.Body));
        content.Headers.ContentType = new MediaTypeHeaderValue(json ? "application/json" : "application/x-protobuf");
        var answer = await session.PostAsync(endpoint, content);
        if (answer.Failure is { } failure)
        {
            return failure;
        }

        string text = answer.Text;
        string detail = $"loki answered {answer.Status}: {answer.Excerpt}";
        return Classify(answer.Status, text) switch
        {
            LokiAnswer.Success => ExportOutcome.Ok,
            LokiAnswer.PartlyRefused => new ExportOutcome(ExportStatus.Success, detail, RejectedItems: RefusedEntries(text, push.Entries)),
            LokiAnswer.Transient => ExportOutcome.Transient(detail, answer.RetryAfter(Now)),
            _ => ExportOutcome.Permanent(detail),
        };
    }

    /// <summary>
    /// 2xx taken; 400 for entries too old or out of order (Loki wrote the others) partly refused;
    /// 429 and 5xx worth retrying; any other 4xx permanent.
    /// </summary>
    internal static LokiAnswer Classify(int status, string body) => status switch
    {
        >= 200 and < 300 => LokiAnswer.Success,
        400 when IsTooOldOrOutOfOrder(body) => LokiAnswer.PartlyRefused,
        429 or >= 500 => LokiAnswer.Transient,
        _ => LokiAnswer.Permanent,
    };

    internal static bool IsTooOldOrOutOfOrder(string body) =>
        body.Contains("too far behind", StringComparison.OrdinalIgnoreCase)
        || body.Contains("out of order", StringComparison.OrdinalIgnoreCase)
        || body.Contains("timestamp too old", StringComparison.OrdinalIgnoreCase)
        || body.Contains("duplicate", StringComparison.OrdinalIgnoreCase);

    /// <summary>Loki ends such an answer with "total ignored: N out of M"; without it, count every entry.</summary>
    internal static long RefusedEntries(string body, int entries)
    {
        var match = TotalIgnored().Match(body);
        return match.Success && long.TryParse(match.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? Math.Min(n, entries) : entries;
    }

    [GeneratedRegex(@"total ignored: (\d+) out of", RegexOptions.IgnoreCase)]
    private static partial Regex TotalIgnored();
}

internal enum LokiAnswer
{
    Success,
    PartlyRefused,
    Transient,
    Permanent,
}
