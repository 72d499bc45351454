using System.Globalization;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using OpenTelemetry.Proto.Collector.Logs.V1;
using ServerlessOtlp.Export.Egress;
using ServerlessOtlp.Export.PrometheusRemoteWrite;
using ServerlessOtlp.Tenants;
using Snappier;

namespace ServerlessOtlp.Export.Loki;

public sealed record LokiOptions
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
public sealed partial class LokiExporter : IDestinationExporter
{
    /// <summary>Used when the endpoint has no path.</summary>
    public const string DefaultPath = "/loki/api/v1/push";

    /// <summary>Used when the destination has no timeout.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    private static readonly ProductInfoHeaderValue UserAgent = new("ServerlessOtlp", typeof(LokiExporter).Assembly.GetName().Version?.ToString(3) ?? "0");

    private readonly EgressClients _egress;
    private readonly DestinationHeaders _headers;
    private readonly LokiOptions _options;
    private readonly TimeProvider _time;

    /// <param name="egress">Connections behind the egress policy; by default the production policy (public addresses only), refusing loopback.</param>
    /// <param name="headers">Secrets and pinned headers; by default none resolvable.</param>
    public LokiExporter(EgressClients? egress = null, DestinationHeaders? headers = null, LokiOptions? options = null, TimeProvider? time = null)
    {
        _egress = egress ?? new EgressClients();
        _headers = headers ?? new DestinationHeaders(egress: _egress.Policy);
        _options = options ?? new LokiOptions();
        _time = time ?? TimeProvider.System;
    }

    public DestinationKind Kind => DestinationKind.Loki;

    public async Task<ExportOutcome> ExportAsync(ExportRequest request, CancellationToken cancellationToken = default)
    {
        if (request.Message is not ExportLogsServiceRequest logs)
        {
            return ExportOutcome.Permanent($"loki carries logs only, not {request.Signal.ToString().ToLowerInvariant()}");
        }

        if (!PrometheusRemoteWriteExporter.TryEndpoint(request.Destination.Endpoint, DefaultPath, out var endpoint))
        {
            return ExportOutcome.Permanent("loki destination has no valid http(s) endpoint");
        }

        var resolved = await _headers.ResolveAsync(request.Tenant.Id, request.Destination, cancellationToken);
        if (resolved.Failure is { } failure)
        {
            return failure;
        }

        bool json = request.Destination.Encoding == DestinationEncoding.Json;
        var push = json
            ? LokiPushRequest.Build(logs, request.Destination.LokiLabels, _options.StructuredMetadata, _time)
            : LokiPushRequest.BuildProtobuf(logs, request.Destination.LokiLabels, _options.StructuredMetadata, _time);
        if (push.Entries == 0)
        {
            return ExportOutcome.Ok;
        }

        // Protobuf goes snappy block-compressed (not the framed stream) and without a
        // Content-Encoding header, as Promtail and Alloy send it: Loki always unsnappies it.
        using var message = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new ByteArrayContent(json ? push.Body : Snappy.CompressToArray(push.Body)) };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue(json ? "application/json" : "application/x-protobuf");
        message.Headers.UserAgent.Add(UserAgent);
        foreach (var (name, value) in resolved.Headers)
        {
            if (!message.Headers.TryAddWithoutValidation(name, value))
            {
                message.Content.Headers.TryAddWithoutValidation(name, value);
            }
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(request.Destination.Timeout ?? DefaultTimeout);
        try
        {
            using var response = await _egress.HttpClientFor(request.Tenant.Id).SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            int status = (int)response.StatusCode;
            if (status is >= 300 and < 400)
            {
                return ExportOutcome.Permanent("loki: " + BoundedContent.RedirectMessage(response));
            }

            string text = await BoundedContent.ReadTextAsync(response.Content, timeout.Token);
            string detail = $"loki answered {status}: {(text.Length <= 512 ? text.Trim() : text[..512].Trim() + "…")}";
            return Classify(status, text) switch
            {
                LokiAnswer.Success => ExportOutcome.Ok,
                LokiAnswer.PartlyRefused => new ExportOutcome(ExportStatus.Success, detail, RejectedItems: RefusedEntries(text, push.Entries)),
                LokiAnswer.Transient => ExportOutcome.Transient(detail, OtlpRetryRules.RetryAfter(response.Headers.RetryAfter, _time.GetUtcNow())),
                _ => ExportOutcome.Permanent(detail),
            };
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return ExportOutcome.Transient("loki push timed out");
        }
        catch (HttpRequestException ex) when (EgressRefusedException.In(ex) is { } refused)
        {
            return ExportOutcome.Permanent("loki: " + refused.Message);
        }
        catch (HttpRequestException ex)
        {
            return ExportOutcome.Transient("loki push failed: " + ex.Message);
        }
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
