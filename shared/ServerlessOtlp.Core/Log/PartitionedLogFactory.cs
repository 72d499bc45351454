using Microsoft.Extensions.Logging;
using ServerlessOtlp.Hosting;

namespace ServerlessOtlp.Log;

/// <summary>Creates the configured log (not yet opened).</summary>
public static class PartitionedLogFactory
{
    public static IPartitionedLog Create(LogOptions options, StorageClients? storage, ILoggerFactory loggers)
    {
        switch (options.Kind.ToLowerInvariant())
        {
            case "blob":
                if (storage == null)
                {
                    throw new InvalidOperationException("the blob log needs storage: configure ServerlessOtlp:Storage");
                }

                return new BlobLog(
                    storage.Blobs.GetBlobContainerClient(storage.Names.LogContainer),
                    new BlobLogOptions { Name = options.Name, Partitions = options.Partitions },
                    loggers.CreateLogger<BlobLog>());
            case "eventhubs":
                return EventHubsLog.Create(options.EventHubs);
            case "memory":
                loggers.CreateLogger("ServerlessOtlp.Log").LogWarning("MEMORY LOG: data is not durable and no drain can read it. Use it for gateway benchmarks only.");
                return new MemoryLog(options.Partitions) { DiscardBodies = true, AppendBytesPerSecond = options.MemoryBytesPerSecond };
            default:
                throw new InvalidOperationException($"unknown log kind \"{options.Kind}\"; use blob, eventhubs or memory");
        }
    }
}
