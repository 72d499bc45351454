using System.Globalization;

namespace ServerlessOtlp.EventHubsEmulator.Implementation;

/// <summary>The one Event Hub an emulator serves: its partitions, consumer groups and their readers.</summary>
internal sealed class EventHub
{
    /// <summary>The consumer group every Event Hub has.</summary>
    public const string DefaultConsumerGroup = "$Default";

    private readonly Dictionary<string, PartitionLog> partitions;
    private readonly Dictionary<(string ConsumerGroup, string PartitionId), ReaderOwnership> readers;
    private readonly HashSet<string> consumerGroups;
    private int nextRoundRobin = -1;

    public EventHub(string name, int partitionCount, IEnumerable<string> consumerGroupNames, TimeProvider time, TimeSpan retention)
    {
        Name = name;
        CreatedAt = time.GetUtcNow();
        PartitionIds = [.. Enumerable.Range(0, partitionCount).Select(i => i.ToString(CultureInfo.InvariantCulture))];
        Partitions = [.. PartitionIds.Select(id => new PartitionLog(id, time, retention))];
        partitions = Partitions.ToDictionary(p => p.Id, StringComparer.Ordinal);

        // Consumer group names are case-insensitive on the service.
        consumerGroups = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { DefaultConsumerGroup };
        consumerGroups.UnionWith(consumerGroupNames);
        readers = [];
        foreach (string group in consumerGroups)
        {
            foreach (string id in PartitionIds)
            {
                readers[(group.ToUpperInvariant(), id)] = new ReaderOwnership(group, id);
            }
        }
    }

    public string Name { get; }

    public DateTimeOffset CreatedAt { get; }

    public string[] PartitionIds { get; }

    public PartitionLog[] Partitions { get; }

    public bool HasConsumerGroup(string name) => consumerGroups.Contains(name);

    public PartitionLog? FindPartition(string id) => partitions.GetValueOrDefault(id);

    public ReaderOwnership? FindReaders(string consumerGroup, string partitionId) =>
        readers.GetValueOrDefault((consumerGroup.ToUpperInvariant(), partitionId));

    /// <summary>
    /// The partition for a publish to the hub itself: by the partition key's hash when there is one (the
    /// service's and the SDK's resolver agree on it), otherwise round-robin.
    /// </summary>
    public PartitionLog ChoosePartition(string? partitionKey)
    {
        if (partitionKey is not null)
        {
            return Partitions[PartitionKeyHash.PartitionIndex(partitionKey, Partitions.Length)];
        }

        uint next = (uint)Interlocked.Increment(ref nextRoundRobin);
        return Partitions[(int)(next % (uint)Partitions.Length)];
    }
}
