using ServerlessOtlp.Export.PrometheusRemoteWrite.Prompb;

namespace ServerlessOtlp.Export.PrometheusRemoteWrite;

/// <summary>One Prometheus series of a batch and the data points (indexes in the request) its samples came from.</summary>
internal readonly record struct ConvertedSeries(TimeSeries Series, int[] Points, int Samples);

/// <summary>A request converted for remote write; its state changes wait in <see cref="State"/> until sent.</summary>
internal sealed class RemoteWriteBatch
{
    public List<ConvertedSeries> Series { get; } = [];

    public List<MetricMetadata> Metadata { get; } = [];

    /// <summary>Points dropped before sending: replays (older than what the series already has) and invalid points.</summary>
    public HashSet<int> DroppedPoints { get; } = [];

    public int DataPoints { get; set; }

    public int Samples { get; set; }

    public required SeriesStateTransaction State { get; init; }
}
