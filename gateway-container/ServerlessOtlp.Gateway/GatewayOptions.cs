namespace ServerlessOtlp.Gateway;

/// <summary>Gateway settings, bound from the <c>ServerlessOtlp:Gateway</c> configuration section.</summary>
internal sealed class GatewayOptions
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

    /// <summary>
    /// Largest request body on the wire (compressed or not), in bytes. 20 MiB is the Collector's
    /// <c>confighttp</c> <c>max_request_body_size</c> default.
    /// </summary>
    public int MaxRequestBytes { get; set; } = DefaultMaxRequestBytes;

    /// <summary>
    /// Largest request body after decompression, in bytes: the Collector applies its body limit to the
    /// decompressed size as well since CVE-2024-36129, with the same 20 MiB default.
    /// </summary>
    public int MaxDecompressedBytes { get; set; } = DefaultMaxRequestBytes;

    /// <summary>
    /// Cap of a gRPC message, compressed and decompressed, on top of the two limits above: 4 MiB is
    /// grpc-go's default <c>MaxRecvMsgSize</c>, which the Collector's OTLP gRPC receiver keeps.
    /// </summary>
    public int MaxGrpcMessageBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Connections a replica accepts at once (Kestrel's <c>MaxConcurrentConnections</c>); more wait in the kernel's backlog.</summary>
    public long MaxConnections { get; set; } = 10_000;

    /// <summary>
    /// Concurrent HTTP/2 streams per connection: what one connection can make the gateway hold at once.
    /// 100 is the minimum RFC 9113 recommends and grpc-go's default.
    /// </summary>
    public int MaxStreamsPerConnection { get; set; } = 100;

    /// <summary>
    /// Proxies in front of the gateway that append to <c>X-Forwarded-For</c> (the cloud ingress: 1).
    /// The client address for per-address limits is the entry this many from the right; 0 uses the
    /// TCP peer, and a header the client wrote itself is never trusted.
    /// </summary>
    public int TrustedProxyHops { get; set; }

    /// <summary>The gRPC wire limit: <see cref="MaxRequestBytes"/> capped by <see cref="MaxGrpcMessageBytes"/>.</summary>
    public int GrpcWireLimit => Math.Min(MaxRequestBytes, MaxGrpcMessageBytes);

    /// <summary>The gRPC decompressed limit: <see cref="MaxDecompressedBytes"/> capped by <see cref="MaxGrpcMessageBytes"/>.</summary>
    public int GrpcDecompressedLimit => Math.Min(MaxDecompressedBytes, MaxGrpcMessageBytes);

    public const int DefaultMaxRequestBytes = 20 * 1024 * 1024;

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

    /// <summary>How often replicas exchange what tenants with limits ask of them, to share each limit by demand (<see cref="Ingest.TenantLimitShares"/>).</summary>
    public TimeSpan LimitSyncInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Push-started drains: on appending to a partition that no drain holds, enqueue a drain job on the
    /// Functions app's <c>drain-jobs</c> queue (deduplicated by the pending markers in the leases table; a
    /// partition's state is re-read at most every 2 s), so the Dispatch timer is only a safety net. Needs the
    /// queue's sender role and write access to the leases table. Off where something else dispatches drains
    /// (the local runner of <c>otlpctl dev</c> and the compose file).
    /// </summary>
    public bool PushDrainJobs { get; set; } = true;

    /// <summary>Heartbeat period of this node in the nodes table.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The gateway's public OTLP/HTTP base URL as agents reach it (e.g. <c>https://gw.example.com</c>): OpAMP
    /// offers it to agents (connection settings, the <c>${serverlessotlp:endpoint}</c> placeholder). Unset,
    /// it is <c>http://127.0.0.1:{HttpPort}</c>, right for a local run only.
    /// </summary>
    public string? PublicUrl { get; set; }

    /// <summary>The OpAMP server (<c>POST /v1/opamp</c>): limits, quotas and the agents' failure detector.</summary>
    public Agents.OpAmpOptions OpAmp { get; set; } = new();

    /// <summary>Id of this gateway instance in events and heartbeats.</summary>
    public string NodeId { get; set; } = $"gw-{Environment.MachineName}-{Environment.ProcessId}";
}
