using System.Net.Http.Headers;
using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using ServerlessOtlp.Export.Egress;
using ServerlessOtlp.Export.PrometheusRemoteWrite.Prompb;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Export.PrometheusRemoteWrite;

/// <summary>
/// The <c>prometheusremotewrite</c> destination: remote write 1.0 (protobuf <c>WriteRequest</c>,
/// snappy block format) to Prometheus, Mimir, Cortex or anything that speaks it. Metrics are
/// converted by <see cref="RemoteWriteConverter"/>; delta series are accumulated in memory per
/// partition (metrics are partitioned by resource identity, so a series always comes through the
/// same partition), keyed by tenant, destination and series; <see cref="SnapshotState"/> /
/// <see cref="RestoreState"/> carry a partition's state across a handoff. Samples the backend
/// refuses as out of order or duplicate are dropped and counted, never dead-lettered: re-sending
/// them can never succeed.
/// </summary>
public sealed class PrometheusRemoteWriteExporter : IDestinationExporter, IPartitionStateExporter
{
    /// <summary>The state of requests that carry no partition (tests, tools).</summary>
    private const int NoPartition = -1;

    /// <summary>Used when the endpoint has no path (Prometheus's receiver path).</summary>
    public const string DefaultPath = "/api/v1/write";

    /// <summary>The remote write 1.0 specification's version header value.</summary>
    public const string ProtocolVersion = "0.1.0";

    /// <summary>Used when the destination has no timeout (Prometheus's <c>remote_timeout</c> default).</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    private static readonly ProductInfoHeaderValue UserAgent = new("ServerlessOtlp", typeof(PrometheusRemoteWriteExporter).Assembly.GetName().Version?.ToString(3) ?? "0");

    private readonly EgressClients _egress;
    private readonly DestinationHeaders _headers;
    private readonly RemoteWriteConverter _converter;
    private readonly PrometheusRemoteWriteOptions _options;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, SeriesStateStore> _states = new();
    private readonly TimeProvider _time;

    /// <param name="egress">Connections behind the egress policy; by default the production policy (public addresses only), refusing loopback.</param>
    /// <param name="headers">Secrets and pinned headers; by default none resolvable.</param>
    public PrometheusRemoteWriteExporter(EgressClients? egress = null, DestinationHeaders? headers = null, PrometheusRemoteWriteOptions? options = null, TimeProvider? time = null)
    {
        _egress = egress ?? new EgressClients();
        _headers = headers ?? new DestinationHeaders(egress: _egress.Policy);
        _options = options ?? new PrometheusRemoteWriteOptions();
        _time = time ?? TimeProvider.System;
        _converter = new RemoteWriteConverter(_options, _time);
    }

    public DestinationKind Kind => DestinationKind.PrometheusRemoteWrite;

    /// <summary>Series whose last sample time is tracked (for replays and delta accumulation), over all partitions.</summary>
    public int TrackedSeries => _states.Values.Sum(s => s.SeriesCount);

    public long StateVersion(int partition) => _states.TryGetValue(partition, out var state) ? state.AccumulatorVersion : 0;

    /// <summary>A partition's per-series state (last sample times, delta totals) as JSON; null when empty.</summary>
    public string? SnapshotState(int partition) => _states.TryGetValue(partition, out var state) ? state.Snapshot() : null;

    /// <summary>
    /// Replaces a partition's state with a <see cref="SnapshotState"/> taken by its previous owner
    /// (null: start empty). Replaced, not merged: what this instance held from an earlier turn may
    /// be behind or ahead of what the partition's checkpoint saw since.
    /// </summary>
    public void RestoreState(int partition, string? snapshot)
    {
        var state = new SeriesStateStore();
        if (snapshot != null)
        {
            state.Restore(snapshot);
        }

        _states[partition] = state;
    }

    public async Task<ExportOutcome> ExportAsync(ExportRequest request, CancellationToken cancellationToken = default)
    {
        if (request.Message is not ExportMetricsServiceRequest metrics)
        {
            return ExportOutcome.Permanent($"prometheusremotewrite carries metrics only, not {request.Signal.ToString().ToLowerInvariant()}");
        }

        if (!TryEndpoint(request.Destination.Endpoint, DefaultPath, out var endpoint))
        {
            return ExportOutcome.Permanent("prometheusremotewrite destination has no valid http(s) endpoint");
        }

        var resolved = await _headers.ResolveAsync(request.Tenant.Id, request.Destination, cancellationToken);
        if (resolved.Failure is { } failure)
        {
            return failure;
        }

        var headers = resolved.Headers;
        var http = _egress.HttpClientFor(request.Tenant.Id);

        string scope = request.Tenant.Id + "\x1f" + request.Destination.Name;
        var state = _states.GetOrAdd(request.Partition ?? NoPartition, static _ => new SeriesStateStore());
        var batch = _converter.Convert(metrics, scope, state.Begin());
        long dropped = 0;
        var droppedPoints = new HashSet<int>(batch.DroppedPoints);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(request.Destination.Timeout ?? DefaultTimeout);
        foreach (var chunk in Chunks(batch.Series, _options.MaxSamplesPerRequest))
        {
            var (outcome, refused) = await SendAsync(http, endpoint, headers, chunk, batch.Metadata, timeout.Token, cancellationToken);
            if (outcome.Status != ExportStatus.Success)
            {
                // Nothing is committed: a retry of this batch converts it again from the same state.
                return outcome;
            }

            foreach (var s in refused)
            {
                dropped += s.Samples;
                droppedPoints.UnionWith(s.Points);
            }
        }

        batch.State.Commit();
        if (droppedPoints.Count == 0)
        {
            return ExportOutcome.Ok;
        }

        return new ExportOutcome(ExportStatus.Success, $"{droppedPoints.Count} of {batch.DataPoints} data points dropped ({dropped} samples refused as out of order or duplicate, the rest replays of what the series already has)", RejectedItems: droppedPoints.Count);
    }

    /// <summary>
    /// Sends series; on a refusal as out of order or duplicate (Prometheus rolls the whole request
    /// back) sends the halves separately until the refused series are found, and returns them.
    /// </summary>
    private async Task<(ExportOutcome Outcome, List<ConvertedSeries> Refused)> SendAsync(HttpClient http, Uri endpoint, IReadOnlyList<KeyValuePair<string, string>> headers, List<ConvertedSeries> series, List<Prompb.MetricMetadata> metadata, CancellationToken timeout, CancellationToken caller)
    {
        var write = new WriteRequest();
        foreach (var s in series)
        {
            write.Timeseries.Add(s.Series);
        }

        write.Metadata.Add(metadata);
        var (outcome, answer) = await PostAsync(http, endpoint, headers, write, timeout, caller);
        if (answer != RemoteWriteAnswer.Refused)
        {
            return (outcome, []);
        }

        if (series.Count == 1)
        {
            return (ExportOutcome.Ok, series);
        }

        int half = series.Count / 2;
        var refused = new List<ConvertedSeries>();
        foreach (var part in new[] { series[..half], series[half..] })
        {
            var (partOutcome, partRefused) = await SendAsync(http, endpoint, headers, part, [], timeout, caller);
            if (partOutcome.Status != ExportStatus.Success)
            {
                return (partOutcome, []);
            }

            refused.AddRange(partRefused);
        }

        return (ExportOutcome.Ok, refused);
    }

    private async Task<(ExportOutcome Outcome, RemoteWriteAnswer Answer)> PostAsync(HttpClient http, Uri endpoint, IReadOnlyList<KeyValuePair<string, string>> headers, WriteRequest write, CancellationToken timeout, CancellationToken caller)
    {
        byte[] body = RemoteWriteBody.Rent(write, out int length);
        try
        {
            return await PostBodyAsync(http, endpoint, headers, body, length, timeout, caller);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(body); // the request is sent and disposed by now
        }
    }

    private async Task<(ExportOutcome Outcome, RemoteWriteAnswer Answer)> PostBodyAsync(HttpClient http, Uri endpoint, IReadOnlyList<KeyValuePair<string, string>> headers, byte[] body, int length, CancellationToken timeout, CancellationToken caller)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new ByteArrayContent(body, 0, length) };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        message.Content.Headers.ContentEncoding.Add("snappy");
        message.Headers.Add("X-Prometheus-Remote-Write-Version", ProtocolVersion);
        message.Headers.UserAgent.Add(UserAgent);
        foreach (var (name, value) in headers)
        {
            if (!message.Headers.TryAddWithoutValidation(name, value))
            {
                message.Content.Headers.TryAddWithoutValidation(name, value);
            }
        }

        try
        {
            using var response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout);
            if ((int)response.StatusCode is >= 300 and < 400)
            {
                return (ExportOutcome.Permanent("remote write: " + BoundedContent.RedirectMessage(response)), RemoteWriteAnswer.Permanent);
            }

            string text = await BoundedContent.ReadTextAsync(response.Content, timeout);
            var answer = Classify((int)response.StatusCode, text);
            string detail = $"remote write answered {(int)response.StatusCode}: {Trim(text)}";
            return answer switch
            {
                RemoteWriteAnswer.Success => (ExportOutcome.Ok, answer),
                RemoteWriteAnswer.Refused => (ExportOutcome.Ok, answer),
                RemoteWriteAnswer.Transient => (ExportOutcome.Transient(detail, OtlpRetryRules.RetryAfter(response.Headers.RetryAfter, _time.GetUtcNow())), answer),
                _ => (ExportOutcome.Permanent(detail), answer),
            };
        }
        catch (OperationCanceledException) when (!caller.IsCancellationRequested)
        {
            return (ExportOutcome.Transient("remote write timed out"), RemoteWriteAnswer.Transient);
        }
        catch (HttpRequestException ex) when (EgressRefusedException.In(ex) is { } refused)
        {
            return (ExportOutcome.Permanent("remote write: " + refused.Message), RemoteWriteAnswer.Permanent);
        }
        catch (HttpRequestException ex)
        {
            return (ExportOutcome.Transient("remote write failed: " + ex.Message), RemoteWriteAnswer.Transient);
        }
    }

    /// <summary>
    /// What an answer means: 2xx taken; 400 naming out-of-order, duplicate or too-old samples
    /// (Prometheus, Mimir and Cortex wordings) refused for good but not worth a dead letter;
    /// 429 and 5xx worth retrying (the remote write specification); any other 4xx permanent.
    /// </summary>
    internal static RemoteWriteAnswer Classify(int status, string body) => status switch
    {
        >= 200 and < 300 => RemoteWriteAnswer.Success,
        400 when IsOutOfOrderOrDuplicate(body) => RemoteWriteAnswer.Refused,
        429 or >= 500 => RemoteWriteAnswer.Transient,
        _ => RemoteWriteAnswer.Permanent,
    };

    internal static bool IsOutOfOrderOrDuplicate(string body) =>
        body.Contains("out of order", StringComparison.OrdinalIgnoreCase)
        || body.Contains("out-of-order", StringComparison.OrdinalIgnoreCase)
        || body.Contains("duplicate sample", StringComparison.OrdinalIgnoreCase)
        || body.Contains("sample-duplicate", StringComparison.OrdinalIgnoreCase)
        || body.Contains("out of bounds", StringComparison.OrdinalIgnoreCase)
        || body.Contains("too old", StringComparison.OrdinalIgnoreCase);

    /// <summary>The endpoint as given, or with <paramref name="defaultPath"/> when it has none.</summary>
    internal static bool TryEndpoint(string? endpoint, string defaultPath, out Uri uri)
    {
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out uri!) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            return false;
        }

        if (uri.AbsolutePath is "" or "/")
        {
            uri = new UriBuilder(uri) { Path = defaultPath }.Uri;
        }

        return true;
    }

    private static IEnumerable<List<ConvertedSeries>> Chunks(List<ConvertedSeries> series, int maxSamples)
    {
        var chunk = new List<ConvertedSeries>();
        int samples = 0;
        foreach (var s in series)
        {
            if (chunk.Count > 0 && samples + s.Samples > maxSamples)
            {
                yield return chunk;
                chunk = [];
                samples = 0;
            }

            chunk.Add(s);
            samples += s.Samples;
        }

        if (chunk.Count > 0)
        {
            yield return chunk;
        }
    }

    private static string Trim(string text) => text.Length <= 512 ? text.Trim() : text[..512].Trim() + "…";
}

/// <summary>How a remote-write backend answered.</summary>
internal enum RemoteWriteAnswer
{
    Success,

    /// <summary>Samples refused as out of order, duplicate or too old: drop and count them.</summary>
    Refused,

    Transient,

    Permanent,
}
