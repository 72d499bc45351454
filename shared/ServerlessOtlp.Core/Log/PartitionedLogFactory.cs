using Microsoft.Extensions.Logging;
using ServerlessOtlp.Hosting;

namespace ServerlessOtlp.Log;

/// <summary>Creates the configured log (not yet opened).</summary>
public static class PartitionedLogFactory
{
    /// <param name="drainsInProcess">
    /// A memory log keeps what is appended only for drains of the same process (<c>otlpctl dev --role all</c>:
    /// delivery-latency benchmarks); otherwise it counts and drops bodies, as gateway benchmarks need.
    /// </param>
    public static IPartitionedLog Create(LogOptions options, StorageClients? storage, ILoggerFactory loggers, bool drainsInProcess = false)
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
                var logger = loggers.CreateLogger("ServerlessOtlp.Log");
                if (drainsInProcess)
                {
                    logger.LogWarning("MEMORY LOG: data is not durable and is never trimmed (memory grows with everything appended). Use it for benchmarks only.");
                }
                else
                {
                    logger.LogWarning("MEMORY LOG: data is not durable and no drain can read it. Use it for gateway benchmarks only.");
                }

                // A name of its own per process: checkpoints and leases are keyed by the log's name, and a new memory
                // log starts empty, so the rows of an earlier run would put its drains ahead of everything appended.
                string name = drainsInProcess ? "memory-" + Guid.NewGuid().ToString("N")[..12] : "memory";
                return new MemoryLog(options.Partitions, name) { DiscardBodies = !drainsInProcess, AppendBytesPerSecond = options.MemoryBytesPerSecond };
            default:
                throw new InvalidOperationException($"unknown log kind \"{options.Kind}\"; use blob, eventhubs or memory");
        }
    }
}
