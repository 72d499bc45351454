using Azure.Messaging.EventHubs.Consumer;
using Azure.Messaging.EventHubs.Primitives;
using Azure.Messaging.EventHubs.Producer;
using ServerlessOtlp.EventHubsEmulator;
using Emulator = ServerlessOtlp.EventHubsEmulator.EventHubsEmulator;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;

namespace ServerlessOtlp.Tests.EventHubs;

/// <summary>
/// One test's Event Hub: the repository's local AMQP endpoint on an OS-chosen port (it reports the port),
/// with the consumer groups the Bicep creates, and the production <see cref="EventHubsLog"/> over it
/// through the real SDK. Receivers opened by the log are counted, so tests can see reopens.
/// </summary>
internal sealed class EmulatedHub : IAsyncDisposable
{
    public const string LiveGroup = "functions";
    public const string ReplayGroup = "replay";

    private int _receiversOpened;

    private EmulatedHub(Emulator emulator, EventHubsLogOptions options)
    {
        Emulator = emulator;
        Options = options;
    }

    public Emulator Emulator { get; }

    public EventHubsLogOptions Options { get; }

    public string ConnectionString => Emulator.ConnectionString;

    /// <summary>Receivers the logs of <see cref="OpenLogAsync"/> opened so far.</summary>
    public int ReceiversOpened => Volatile.Read(ref _receiversOpened);

    /// <summary>A hub named uniquely per test, with the live and replay consumer groups.</summary>
    public static async Task<EmulatedHub> StartAsync(int partitions = 1, Action<EventHubsLogOptions>? configure = null)
    {
        string hub = "otlp" + Guid.NewGuid().ToString("N")[..8];
        var emulator = await Emulator.StartAsync(new EmulatorOptions
        {
            Port = 0,
            Partitions = partitions,
            HubName = hub,
            ConsumerGroups = [LiveGroup, ReplayGroup],
        });
        var options = new EventHubsLogOptions
        {
            ConnectionString = emulator.ConnectionString,
            EventHubName = hub,
            ConsumerGroup = LiveGroup,
            ReplayConsumerGroup = ReplayGroup,
        };
        configure?.Invoke(options);
        return new EmulatedHub(emulator, options);
    }

    /// <summary>The production log over the emulator, with receivers as <see cref="EventHubsLog.Create"/> makes them, counted.</summary>
    public async Task<EventHubsLog> OpenLogAsync()
    {
        var producer = new EventHubProducerClient(Options.ConnectionString, Options.EventHubName);
        var log = new EventHubsLog(producer, Options.ConsumerGroup, Options.ReplayConsumerGroup, (group, id, position, ownerLevel) =>
        {
            Interlocked.Increment(ref _receiversOpened);
            return new PartitionReceiver(group, id, position, Options.ConnectionString, Options.EventHubName, EventHubsLog.ReceiverOptions(Options, ownerLevel));
        }, Options.PrefetchCount);
        await log.OpenAsync();
        return log;
    }

    /// <summary>A raw non-exclusive receiver in <paramref name="group"/>, attached (it has read once) when returned.</summary>
    public async Task<PartitionReceiver> AttachReaderAsync(string group, string partitionId = "0")
    {
        var receiver = new PartitionReceiver(group, partitionId, EventPosition.Earliest, ConnectionString);
        await receiver.ReceiveBatchAsync(1, TimeSpan.FromMilliseconds(50));
        return receiver;
    }

    public static LogEvent Event(string tenant, int bytes, DateTimeOffset? receivedAt = null, byte fill = 7) =>
        new(new EventProperties(tenant, Signal.Traces, BodyCodec.Protobuf, 1, receivedAt ?? DateTimeOffset.UtcNow, "test-gateway"), Enumerable.Repeat(fill, bytes).ToArray());

    public ValueTask DisposeAsync() => Emulator.DisposeAsync();
}
