namespace ServerlessOtlp.Storage;

/// <summary>
/// A tenant's replay cursor on one partition: a checkpoint row of its own consumer group
/// (<see cref="GroupOf"/>) that re-delivers only that tenant's events from <see cref="Start"/>
/// up to <see cref="End"/>, the live checkpoint when it was created. It is drained like any
/// partition (lease, fence, checkpoint) and is done once its position reaches its end.
/// </summary>
public sealed record ReplayCursor(
    string Tenant,
    int Partition,
    long Start,
    long End,
    long Position,
    string CreatedBy,
    DateTimeOffset CreatedAt,
    DateTimeOffset? UpdatedAt)
{
    /// <summary>
    /// Prefix of a cursor's consumer group. ':' cannot occur in an Event Hubs consumer group name
    /// nor in a tenant id, so a cursor's rows never collide with a real consumer group's.
    /// </summary>
    public const string GroupPrefix = "replay:";

    public const string Active = "active";

    public const string Done = "done";

    public string Group => GroupOf(Tenant);

    /// <summary>Derived from the position, which the drain writes under its fence: never out of step with it.</summary>
    public bool IsDone => Position >= End;

    public string State => IsDone ? Done : Active;

    public static string GroupOf(string tenant) => GroupPrefix + tenant;
}
