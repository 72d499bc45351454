using Azure;
using ServerlessOtlp.Performance;

namespace ServerlessOtlp.Storage;

/// <summary>Roles of the nodes that heartbeat into the <c>nodes</c> table (its PartitionKey).</summary>
public static class NodeRoles
{
    public const string Gateway = "gateway";
    public const string Runner = "runner";
    public const string Functions = "functions";
}

/// <summary>Node states: a node reports alive or stopped; the failure detector marks suspect, then dead.</summary>
public static class NodeStatus
{
    public const string Alive = "alive";
    public const string Suspect = "suspect";
    public const string Dead = "dead";
    public const string Stopped = "stopped";
}

/// <summary>What a gateway or drain worker reports about itself, every few seconds.</summary>
public sealed record NodeHeartbeat(
    string Role,
    string Id,
    string Version,
    string Host,
    DateTimeOffset StartedAt,
    string Status = NodeStatus.Alive,
    IReadOnlyDictionary<string, long>? Counters = null,
    IReadOnlyDictionary<string, ComponentSnapshot>? Performance = null);

/// <summary>
/// A node as stored. <see cref="LastSeen"/> is the service's timestamp of its last heartbeat and
/// <see cref="Age"/> the service's "now" minus that, so no local clock is involved.
/// </summary>
public sealed record NodeInfo(
    string Role,
    string Id,
    string? Version,
    string? Host,
    DateTimeOffset? StartedAt,
    string Status,
    DateTimeOffset LastSeen,
    TimeSpan Age,
    IReadOnlyDictionary<string, long> Counters,
    ETag ETag)
{
    /// <summary>The node's performance snapshots (<see cref="PerformanceComponents"/>) from its last heartbeat.</summary>
    public IReadOnlyDictionary<string, ComponentSnapshot> Performance { get; init; } = NoPerformance;

    internal static readonly IReadOnlyDictionary<string, ComponentSnapshot> NoPerformance = new Dictionary<string, ComponentSnapshot>();
}
