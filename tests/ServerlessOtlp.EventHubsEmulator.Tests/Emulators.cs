using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Consumer;
using Azure.Messaging.EventHubs.Producer;

namespace ServerlessOtlp.EventHubsEmulator.Tests;

/// <summary>
/// Shared steps: each test starts its own emulator on an OS-chosen port, and waits on conditions with a
/// generous deadline instead of sleeping, so a loaded two-core machine only makes the tests slower.
/// </summary>
internal static class Emulators
{
    /// <summary>How long any single wait may take before the test fails: generous, never asserted on.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    public static Task<EventHubsEmulator> StartAsync(int partitions = 2, Action<EmulatorOptions>? configure = null)
    {
        var options = new EmulatorOptions { Port = 0, Partitions = partitions, HubName = "otlp" };
        configure?.Invoke(options);
        return EventHubsEmulator.StartAsync(options);
    }

    public static async Task SendAsync(EventHubsEmulator emulator, string? partitionId, params EventData[] events)
    {
        await using var producer = new EventHubProducerClient(emulator.ConnectionString);
        await producer.SendAsync(events, new SendEventOptions { PartitionId = partitionId });
    }

    public static EventData Event(string body, int index = 0)
    {
        var data = new EventData(BinaryData.FromString(body));
        data.Properties["index"] = index;
        return data;
    }

    /// <summary>Reads <paramref name="count"/> events with EventHubConsumerClient.ReadEventsFromPartitionAsync.</summary>
    public static async Task<List<PartitionEvent>> ReadAsync(
        EventHubsEmulator emulator,
        string partitionId,
        EventPosition position,
        int count,
        string consumerGroup = EventHubConsumerClient.DefaultConsumerGroupName,
        ReadEventOptions? options = null)
    {
        await using var consumer = new EventHubConsumerClient(consumerGroup, emulator.ConnectionString);
        using var deadline = new CancellationTokenSource(Patience);
        var events = new List<PartitionEvent>(count);
        await foreach (PartitionEvent partitionEvent in consumer.ReadEventsFromPartitionAsync(partitionId, position, options ?? new ReadEventOptions(), deadline.Token))
        {
            events.Add(partitionEvent);
            if (events.Count == count)
            {
                break;
            }
        }

        return events;
    }

    /// <summary>Receives with a PartitionReceiver until <paramref name="count"/> events arrived.</summary>
    public static async Task<List<EventData>> ReceiveAsync(Azure.Messaging.EventHubs.Primitives.PartitionReceiver receiver, int count)
    {
        using var deadline = new CancellationTokenSource(Patience);
        var events = new List<EventData>(count);
        while (events.Count < count)
        {
            events.AddRange(await receiver.ReceiveBatchAsync(count - events.Count, TimeSpan.FromSeconds(1), deadline.Token));
        }

        return events;
    }

    /// <summary>Polls a condition the emulator updates asynchronously (e.g. a closed link's release).</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        using var deadline = new CancellationTokenSource(Patience);
        while (!condition())
        {
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(20), deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"Gave up waiting until {what}.");
            }
        }
    }

    /// <summary>The repository root: the folder holding ServerlessOtlp.sln above the test binaries.</summary>
    public static string RepositoryRoot()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "ServerlessOtlp.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No ServerlessOtlp.sln above {AppContext.BaseDirectory}.");
    }
}
