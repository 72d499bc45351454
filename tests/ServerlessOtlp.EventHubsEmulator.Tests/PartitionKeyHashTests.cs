using System.Collections.Concurrent;
using System.Globalization;
using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Producer;
using ServerlessOtlp.EventHubsEmulator.Implementation;

namespace ServerlessOtlp.EventHubsEmulator.Tests;

/// <summary>The emulator's key hashing against the SDK's own choice, which mirrors the service.</summary>
public sealed class PartitionKeyHashTests
{
    /// <summary>
    /// EventHubBufferedProducerClient resolves a partition key to a partition itself (predicting the service) and
    /// publishes to that partition; the partition each succeeded batch reports is the SDK's answer, read through
    /// public API only. An empty key is not here: the SDK and the emulator both route it round-robin.
    /// </summary>
    [Fact]
    public async Task PartitionForKey_MatchesTheBufferedProducersChoice()
    {
        string[] keys = ["a", "tenant-a", "twelve bytes", "thirteen byte", "ünïcødé-κλειδί-鍵", new string('k', 257), "0123456789abcdefghijklmnopqrstuvwxyz"];

        foreach (int partitionCount in new[] { 1, 2, 3, 4, 7, 32 })
        {
            await using EventHubsEmulator emulator = await Emulators.StartAsync(partitionCount);
            var chosen = new ConcurrentDictionary<string, string>();
            var failures = new ConcurrentQueue<Exception>();
            await using var producer = new EventHubBufferedProducerClient(emulator.ConnectionString);
            producer.SendEventBatchSucceededAsync += args =>
            {
                foreach (EventData sent in args.EventBatch)
                {
                    chosen[(string)sent.Properties["key"]] = args.PartitionId;
                }

                return Task.CompletedTask;
            };
            producer.SendEventBatchFailedAsync += args =>
            {
                failures.Enqueue(args.Exception);
                return Task.CompletedTask;
            };

            foreach (string key in keys)
            {
                var data = new EventData(BinaryData.FromString(key));
                data.Properties["key"] = key;
                await producer.EnqueueEventAsync(data, new EnqueueEventOptions { PartitionKey = key });
            }

            await producer.FlushAsync();

            Assert.Empty(failures);
            foreach (string key in keys)
            {
                Assert.True(chosen.TryGetValue(key, out string? sdkPartition), $"The buffered producer reported no batch holding '{key}'.");
                Assert.Equal(sdkPartition, PartitionKeyHash.PartitionIndex(key, partitionCount).ToString(CultureInfo.InvariantCulture));
            }

            Assert.Equal(keys.Length, emulator.PartitionIds.Sum(id => emulator.GetPartition(id).RetainedEvents));
        }
    }
}
