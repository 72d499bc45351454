namespace ServerlessOtlp.Export.PrometheusRemoteWrite;

/// <summary>How OTLP metrics become Prometheus series.</summary>
internal sealed record PrometheusRemoteWriteOptions
{
    /// <summary>Prometheus's remote-write client default (<c>queue_config.max_samples_per_send</c>).</summary>
    public const int DefaultMaxSamplesPerRequest = 2000;

    /// <summary>
    /// Exponential histograms as Prometheus native histograms (Prometheus needs
    /// <c>--enable-feature=native-histograms</c>) instead of explicit <c>_bucket{le}</c> series.
    /// </summary>
    public bool NativeHistograms { get; init; }

    /// <summary>Send a <c>MetricMetadata</c> (type, help, unit) per metric family.</summary>
    public bool SendMetadata { get; init; } = true;

    /// <summary>Send each resource's other attributes as a <c>target_info</c> series.</summary>
    public bool TargetInfo { get; init; } = true;

    /// <summary>Add <c>otel_scope_name</c> / <c>otel_scope_version</c> labels.</summary>
    public bool ScopeLabels { get; init; } = true;

    public int MaxSamplesPerRequest { get; init; } = DefaultMaxSamplesPerRequest;
}
