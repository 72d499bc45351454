namespace ServerlessOtlp.Gateway;

/// <summary>Gateway settings, bound from the <c>ServerlessOtlp:Gateway</c> configuration section.</summary>
public sealed class GatewayOptions
{
    public const string Section = "ServerlessOtlp:Gateway";

    /// <summary>OTLP/gRPC, cleartext HTTP/2 (the specification's default port).</summary>
    public int GrpcPort { get; set; } = 4317;

    /// <summary>OTLP/HTTP, HTTP/1.1 (the specification's default port).</summary>
    public int HttpPort { get; set; } = 4318;

    /// <summary>Probes and /metrics over HTTP/1.1; never exposed by the ingress. 13133 is the Collector's health-check port.</summary>
    public int ManagementPort { get; set; } = 13133;

    /// <summary>
    /// Cloud mode: one HTTP/2-only (h2c) port that serves gRPC and OTLP/HTTP behind a TLS-terminating
    /// ingress, because Kestrel cannot offer HTTP/1.1 and cleartext HTTP/2 on one port. When set, the
    /// gRPC and HTTP ports are not opened.
    /// </summary>
    public int? SinglePort { get; set; }

    /// <summary>Address to bind; loopback by default so a local run is not exposed.</summary>
    public string BindAddress { get; set; } = "127.0.0.1";

    /// <summary>Largest request body on the wire (compressed), in bytes.</summary>
    public int MaxRequestBytes { get; set; } = 64 * 1024 * 1024;

    /// <summary>Largest request body after decompression (OTLP 1.11 suggests a limit; 64 MiB is the Collector's default).</summary>
    public int MaxDecompressedBytes { get; set; } = 64 * 1024 * 1024;

    /// <summary>Bytes of accepted-but-not-yet-durable data the gateway holds; past it requests are refused as retryable.</summary>
    public long InFlightBudgetBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Largest event body. Event Hubs takes at most 1 MB per event, properties included.</summary>
    public int MaxEventBytes { get; set; } = 950 * 1024;

    /// <summary>How long a partition batch waits for more data before it is appended (the group-commit linger).</summary>
    public TimeSpan FlushDelay { get; set; } = TimeSpan.FromMilliseconds(2);

    /// <summary>Append as soon as this many bytes are waiting for a partition.</summary>
    public int FlushBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Runs request processing on the socket I/O thread instead of dispatching it to the thread pool
    /// (Kestrel's <c>UnsafePreferInlineScheduling</c>): fewer thread wake-ups per request at low and
    /// moderate load. Safe here because the ingest path never blocks; set
    /// <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c> as well to inline the runtime's socket completions.
    /// </summary>
    public bool InlineScheduling { get; set; }

    /// <summary>Seconds suggested to clients in RetryInfo / Retry-After when refusing for load.</summary>
    public int RetryAfterSeconds { get; set; } = 1;

    /// <summary>Heartbeat period of this node in the nodes table.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Id of this gateway instance in events and heartbeats.</summary>
    public string NodeId { get; set; } = $"gw-{Environment.MachineName}-{Environment.ProcessId}";
}
