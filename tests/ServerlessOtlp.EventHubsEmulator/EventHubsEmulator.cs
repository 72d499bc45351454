using ServerlessOtlp.EventHubsEmulator.Implementation;

namespace ServerlessOtlp.EventHubsEmulator;

/// <summary>
/// An in-memory stand-in for Azure Event Hubs that the real SDKs (.NET Azure.Messaging.EventHubs 5.12,
/// JavaScript @azure/event-hubs) talk to over plain AMQP with a UseDevelopmentEmulator=true connection string.
/// </summary>
public sealed class EventHubsEmulator : IAsyncDisposable
{
    private readonly EventHub hub;
    private readonly EmulatorRuntime runtime;
    private readonly EmulatorOptions options;
    private int disposed;

    private EventHubsEmulator(EmulatorOptions options, EventHub hub, EmulatorRuntime runtime)
    {
        this.options = options;
        this.hub = hub;
        this.runtime = runtime;
    }

    /// <summary>The port it listens on, 127.0.0.1 only.</summary>
    public int Port => runtime.Port;

    public string HubName => hub.Name;

    public IReadOnlyList<string> PartitionIds => hub.PartitionIds;

    /// <summary>A connection string for the SDKs: no TLS, the emulator's key, the hub as entity path.</summary>
    public string ConnectionString =>
        $"Endpoint=sb://127.0.0.1:{Port};SharedAccessKeyName={options.SharedAccessKeyName};SharedAccessKey={options.SharedAccessKey};" +
        $"EntityPath={hub.Name};UseDevelopmentEmulator=true";

    /// <summary>Starts listening; the returned emulator is ready for clients.</summary>
    public static Task<EventHubsEmulator> StartAsync(EmulatorOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        cancellationToken.ThrowIfCancellationRequested();

        var log = new EmulatorLog(options.ErrorLog ?? Console.Error, options.TimeProvider);
        var hub = new EventHub(options.HubName, options.Partitions, options.ConsumerGroups, options.TimeProvider, options.Retention);
        var runtime = new EmulatorRuntime(hub, options, log);
        runtime.Start();
        return Task.FromResult(new EventHubsEmulator(options, hub, runtime));
    }

    public PartitionSnapshot GetPartition(string partitionId)
    {
        PartitionLog partition = hub.FindPartition(partitionId) ?? throw new ArgumentException($"No partition '{partitionId}'.", nameof(partitionId));
        PartitionState state = partition.Describe();
        return new PartitionSnapshot(partition.Id, state.BeginSequenceNumber, state.LastEnqueuedSequenceNumber, state.RetainedEvents, state.IsEmpty);
    }

    public ReaderSnapshot GetReaders(string consumerGroup, string partitionId)
    {
        ReaderOwnership readers = hub.FindReaders(consumerGroup, partitionId)
            ?? throw new ArgumentException($"No consumer group '{consumerGroup}' with partition '{partitionId}'.", nameof(consumerGroup));
        (int count, long? ownerLevel) = readers.Snapshot();
        return new ReaderSnapshot(count, ownerLevel);
    }

    /// <summary>
    /// Events delivered so far to the readers of <paramref name="partitionId"/> in <paramref name="consumerGroup"/>:
    /// what the clients' prefetch pulled, whether or not the application read it.
    /// </summary>
    public long GetDeliveredEvents(string consumerGroup, string partitionId) =>
        (hub.FindReaders(consumerGroup, partitionId)
            ?? throw new ArgumentException($"No consumer group '{consumerGroup}' with partition '{partitionId}'.", nameof(consumerGroup))).Delivered;

    /// <summary>Removes every event older than the retention by the emulator's clock; returns how many.</summary>
    public int ApplyRetention() => hub.Partitions.Sum(partition => partition.ApplyRetention());

    /// <summary>Expires every event held now, as if retention had passed for all of them; returns how many.</summary>
    public int ExpireAllEvents() => hub.Partitions.Sum(partition => partition.Expire(DateTimeOffset.MaxValue));

    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 0)
        {
            runtime.Stop();
        }

        return ValueTask.CompletedTask;
    }
}
