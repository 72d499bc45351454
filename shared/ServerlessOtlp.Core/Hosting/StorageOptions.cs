namespace ServerlessOtlp.Hosting;

/// <summary>Where the tables, queues and blobs live (<c>ServerlessOtlp:Storage</c>).</summary>
public sealed class StorageOptions
{
    public const string Section = "ServerlessOtlp:Storage";

    /// <summary>A connection string (Azurite locally). Never set in Azure, where identities are used.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>The storage account name in Azure; reached with DefaultAzureCredential (AZURE_CLIENT_ID picks the identity).</summary>
    public string? AccountName { get; set; }

    /// <summary>Endpoint suffix, for sovereign clouds.</summary>
    public string EndpointSuffix { get; set; } = "core.windows.net";

    /// <summary>Table, queue and container names (<c>ServerlessOtlp:Storage:Names:RetryContainer</c>, …); the documented defaults unless set.</summary>
    public Storage.StorageNames Names { get; set; } = new();

    /// <summary>The connection string of the Azurite emulator on its default local ports.</summary>
    public const string AzuriteDefault = "UseDevelopmentStorage=true";
}

/// <summary>The log to use (<c>ServerlessOtlp:Log</c>).</summary>
public sealed class LogOptions
{
    public const string Section = "ServerlessOtlp:Log";

    /// <summary><c>blob</c> (default; local and small deployments), <c>eventhubs</c>, or <c>memory</c> (benchmarks only).</summary>
    public string Kind { get; set; } = "blob";

    /// <summary>Partitions of a blob log this process creates; an existing log's recorded count wins.</summary>
    public int Partitions { get; set; } = 8;

    /// <summary>Memory log only: ingress per partition in bytes/s (0 = unlimited), to benchmark overload.</summary>
    public long MemoryBytesPerSecond { get; set; }

    /// <summary>Blob log name (folder in the <c>otlp-log</c> container).</summary>
    public string Name { get; set; } = "otlp";

    public EventHubsLogOptions EventHubs { get; set; } = new();
}

public sealed class EventHubsLogOptions
{
    /// <summary><c>NAMESPACE.servicebus.windows.net</c>, reached with DefaultAzureCredential.</summary>
    public string? FullyQualifiedNamespace { get; set; }

    public string? ConnectionString { get; set; }

    public string EventHubName { get; set; } = "otlp";

    public string ConsumerGroup { get; set; } = "$Default";

    /// <summary>
    /// Consumer group of per-tenant replay cursors. Separate from <see cref="ConsumerGroup"/>: the
    /// live drain's receivers there are exclusive, and a cursor's would cut them off.
    /// </summary>
    public string ReplayConsumerGroup { get; set; } = "replay";

    /// <summary>
    /// Events a receiver keeps requesting ahead of the reader; 0 (the default) requests events per read instead,
    /// as many as the read's byte limit holds at the sizes seen so far. The SDK's default, 300, refills its
    /// credit as events are taken, so a receiver can hold 300 × 950 KB ≈ 285 MB outside the drains' memory budget.
    /// </summary>
    public int PrefetchCount { get; set; }

    /// <summary>With <see cref="PrefetchCount"/> &gt; 0: the AMQP link sizes its credit to this many bytes over the average event (at least 10 events).</summary>
    public long? PrefetchSizeInBytes { get; set; }
}
