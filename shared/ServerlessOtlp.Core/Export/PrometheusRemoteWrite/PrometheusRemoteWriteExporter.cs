using System.Net.Http.Headers;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using ServerlessOtlp.Export.PrometheusRemoteWrite.Prompb;
using ServerlessOtlp.Otlp;

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
internal sealed class PrometheusRemoteWriteExporter : HttpDestinationExporter, IPartitionStateExporter
{
    /// <summary>The state of requests that carry no partition (tests, tools).</summary>
    private const int NoPartition = -1;

    /// <summary>Used when the endpoint has no path (Prometheus's receiver path).</summary>
    public const string DefaultPath = "/api/v1/write";

    /// <summary>The remote write 1.0 specification's version header value.</summary>
    public const string ProtocolVersion = "0.1.0";

    private static readonly KeyValuePair<string, string>[] VersionHeader = [new("X-Prometheus-Remote-Write-Version", ProtocolVersion)];

    private readonly RemoteWriteConverter _converter;
    private readonly PrometheusRemoteWriteOptions _options;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, SeriesStateStore> _states = new();

    public PrometheusRemoteWriteExporter(DestinationServices services, PrometheusRemoteWriteOptions? options = null)
        : base(services)
    {
        _options = options ?? new PrometheusRemoteWriteOptions();
        _converter = new RemoteWriteConverter(_options, services.Time);
    }

    public override string Kind => RemoteWriteDestination.KindName;

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

    protected override async Task<ExportOutcome> ExportAsync(ExportRequest request, HttpExportSession session)
    {
        if (request.Message is not ExportMetricsServiceRequest metrics)
        {
            return ExportOutcome.Permanent($"prometheusremotewrite carries metrics only, not {request.Signal.ToName()}");
        }

        if (!TryEndpoint(request.Destination.Endpoint, DefaultPath, out var endpoint))
        {
            return ExportOutcome.Permanent("prometheusremotewrite destination has no valid http(s) endpoint");
        }

        string scope = request.Tenant.Id + "\x1f" + request.Destination.Name;
        var state = _states.GetOrAdd(request.Partition ?? NoPartition, static _ => new SeriesStateStore());
        var batch = _converter.Convert(metrics, scope, state.Begin());
        long dropped = 0;
        var droppedPoints = new HashSet<int>(batch.DroppedPoints);
        foreach (var chunk in Chunks(batch.Series, _options.MaxSamplesPerRequest))
        {
            var (outcome, refused) = await SendAsync(session, endpoint, chunk, batch.Metadata);
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
    private async Task<(ExportOutcome Outcome, List<ConvertedSeries> Refused)> SendAsync(HttpExportSession session, Uri endpoint, List<ConvertedSeries> series, List<Prompb.MetricMetadata> metadata)
    {
        var write = new WriteRequest();
        foreach (var s in series)
        {
            write.Timeseries.Add(s.Series);
        }

        write.Metadata.Add(metadata);
        var (outcome, answer) = await PostAsync(session, endpoint, write);
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
            var (partOutcome, partRefused) = await SendAsync(session, endpoint, part, []);
            if (partOutcome.Status != ExportStatus.Success)
            {
                return (partOutcome, []);
            }

            refused.AddRange(partRefused);
        }

        return (ExportOutcome.Ok, refused);
    }

    private async Task<(ExportOutcome Outcome, RemoteWriteAnswer Answer)> PostAsync(HttpExportSession session, Uri endpoint, WriteRequest write)
    {
        byte[] body = RemoteWriteBody.Rent(write, out int length);
        try
        {
            var content = new ByteArrayContent(body, 0, length);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
            content.Headers.ContentEncoding.Add("snappy");
            var response = await session.PostAsync(endpoint, content, VersionHeader);
            if (response.Failure is { } failure)
            {
                return (failure, failure.Status == ExportStatus.Transient ? RemoteWriteAnswer.Transient : RemoteWriteAnswer.Permanent);
            }

            var answer = Classify(response.Status, response.Text);
            string detail = $"remote write answered {response.Status}: {response.Excerpt}";
            return answer switch
            {
                RemoteWriteAnswer.Success or RemoteWriteAnswer.Refused => (ExportOutcome.Ok, answer),
                RemoteWriteAnswer.Transient => (ExportOutcome.Transient(detail, response.RetryAfter(Now)), answer),
                _ => (ExportOutcome.Permanent(detail), answer),
            };
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(body); // the request is sent and disposed by now
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
