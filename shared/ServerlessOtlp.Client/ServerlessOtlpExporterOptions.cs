using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;

namespace ServerlessOtlp.Client;

/// <summary>
/// Settings of the failover exporter. <see cref="Endpoints"/> and <see cref="ApiKey"/> are bound
/// from the <c>ServerlessOtlp</c> configuration section; the rest is usually set in code.
/// </summary>
public sealed class ServerlessOtlpExporterOptions
{
    /// <summary>The configuration section the options are bound from.</summary>
    public const string Section = "ServerlessOtlp";

    /// <summary>The OpenTelemetry SDK's default batch queue size (BatchExportProcessor, 2048), so the buffer holds one full queue.</summary>
    public const int DefaultBufferCapacity = 2048;

    /// <summary>
    /// OTLP/gRPC endpoints of the gateways (for example one per region), in order of preference
    /// when nothing has been measured yet. <c>ServerlessOtlp:Endpoints:0</c>, <c>…:1</c> in configuration.
    /// </summary>
    public List<Uri> Endpoints { get; set; } = [];

    /// <summary>
    /// Gateway endpoints with where they run (<c>ServerlessOtlp:Gateways:0:Endpoint</c>, <c>…:Region</c>,
    /// <c>…:Zone</c>); tried after <see cref="Endpoints"/> in configuration order. With <see cref="Region"/>
    /// set, endpoints of the client's own region are preferred (see the README).
    /// </summary>
    public List<ServerlessOtlpGatewayOptions> Gateways { get; set; } = [];

    /// <summary>
    /// The region this application runs in (e.g. <c>westeurope</c>). Set, exports stay on healthy
    /// endpoints of this region, by latency, and cross to another region only while every endpoint of
    /// its own is open-circuit or refusing; unset, every endpoint counts as near and latency decides.
    /// </summary>
    public string? Region { get; set; }

    /// <summary>The availability zone this application runs in; an endpoint in the same zone goes before others of the region.</summary>
    public string? Zone { get; set; }

    /// <summary>The tenant's API key, sent in <see cref="ApiKeyHeader"/> to every endpoint.</summary>
    public string? ApiKey { get; set; }

    /// <summary>The header the gateway reads the key from.</summary>
    public string ApiKeyHeader { get; set; } = "x-api-key";

    /// <summary>
    /// Share of exports (0 to 1) sent first to an endpoint other than the preferred one of the same
    /// proximity (never another region), so that a faster endpoint is noticed: every
    /// round(1 / ProbeShare)-th export. A failed probe falls over to the preferred endpoint.
    /// </summary>
    public double ProbeShare { get; set; } = 0.05;

    /// <summary>Weight of the newest sample in the moving average of an endpoint's export latency (0 to 1].</summary>
    public double LatencyEwmaAlpha { get; set; } = 0.2;

    /// <summary>
    /// Deadline of one attempt on one endpoint (the SDK exporter's <c>TimeoutMilliseconds</c>).
    /// Shorter than the SDK's 10 s default so that an unresponsive endpoint is left quickly.
    /// </summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(5);

    public ServerlessOtlpRetryOptions Retry { get; set; } = new();

    public ServerlessOtlpCircuitBreakerOptions CircuitBreaker { get; set; } = new();

    /// <summary>
    /// Spans and log records that failed on every endpoint are kept, up to this many, and sent
    /// again with the next export; past it the oldest are dropped and counted. 0 disables the buffer.
    /// Metrics are never buffered (see the README).
    /// </summary>
    public int BufferCapacity { get; set; } = DefaultBufferCapacity;

    /// <summary>Batching of spans and log records before export (the SDK's batch processor defaults).</summary>
    public int MaxQueueSize { get; set; } = 2048;

    public int MaxExportBatchSize { get; set; } = 512;

    public TimeSpan ScheduledDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often metrics are collected and exported (the SDK's default, 60 s).</summary>
    public TimeSpan MetricExportInterval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Cumulative (the default) lets the next successful export carry what a failed one missed.</summary>
    public MetricReaderTemporalityPreference MetricTemporality { get; set; } = MetricReaderTemporalityPreference.Cumulative;

    /// <summary>Further settings of each endpoint's SDK exporter (compression, user agent…); endpoint, protocol, headers, timeout and HttpClientFactory are set by this library.</summary>
    public Action<OtlpExporterOptions>? ConfigureEndpointExporter { get; set; }

    /// <summary>
    /// Chaos for resilience tests: added latency per endpoint (key: the endpoint's URL as in
    /// <see cref="Endpoints"/>), injected innermost in the endpoint's pipeline, so the latency
    /// measurement, retry and breaker see it. Empty in production.
    /// </summary>
    public Dictionary<string, TimeSpan> InjectedLatency { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The clock of latency measurements, retry delays and circuit breakers; the system clock unless a test fakes it.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Every endpoint: <see cref="Endpoints"/> (no region) then <see cref="Gateways"/>.</summary>
    internal IEnumerable<ServerlessOtlpGatewayOptions> AllGateways() =>
        Endpoints.Select(e => new ServerlessOtlpGatewayOptions { Endpoint = e }).Concat(Gateways);
}

/// <summary>One gateway endpoint and where it runs.</summary>
public sealed class ServerlessOtlpGatewayOptions
{
    /// <summary>The OTLP/gRPC endpoint.</summary>
    public Uri? Endpoint { get; set; }

    /// <summary>Its region (compared with <see cref="ServerlessOtlpExporterOptions.Region"/>, ignoring case).</summary>
    public string? Region { get; set; }

    /// <summary>Its availability zone.</summary>
    public string? Zone { get; set; }
}

/// <summary>Retry of one endpoint before failing over to the next (Polly v8 retry).</summary>
public sealed class ServerlessOtlpRetryOptions
{
    /// <summary>Retries per endpoint and export; 0 fails over at once. Another endpoint is usually the better retry.</summary>
    public int MaxRetryAttempts { get; set; } = 1;

    /// <summary>Base delay of the exponential backoff (with jitter).</summary>
    public TimeSpan Delay { get; set; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>Circuit breaker of one endpoint (Polly v8 circuit breaker).</summary>
public sealed class ServerlessOtlpCircuitBreakerOptions
{
    /// <summary>Failure ratio in the sampling window that opens the circuit.</summary>
    public double FailureRatio { get; set; } = 0.5;

    /// <summary>Fewest attempts in the window before the ratio counts (Polly's minimum is 2).</summary>
    public int MinimumThroughput { get; set; } = 4;

    public TimeSpan SamplingDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long an open circuit refuses before one trial (a half-open probe) is let through.</summary>
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(5);
}
