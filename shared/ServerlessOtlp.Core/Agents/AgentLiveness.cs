namespace ServerlessOtlp.Agents;

/// <summary>Agent states as <c>otlpctl agents</c> shows them (CONTRACTS.md).</summary>
public static class AgentStates
{
    public const string Alive = "alive";
    public const string Suspect = "suspect";
    public const string Dead = "dead";
}

/// <summary>
/// The failure detector for agents, like the nodes': judged from the stored last-seen time, which the gateway
/// writes at most once per <see cref="LastSeenWriteInterval"/> per agent (item 6: the table must stay cheap
/// at fleet scale). So the thresholds sit above that interval plus a heartbeat: a healthy 30 s poller's stored
/// last-seen is at most 2 min 30 s old and it never shows suspect; one silent for 5 min is suspect, for 15 min
/// dead, and its row is removed after 24 h. An agent that polls again is alive at once (its poll writes).
/// Bound from <c>ServerlessOtlp:Gateway:OpAmp</c> (the gateway) and the same variables (otlpctl).
/// </summary>
public class AgentLivenessOptions
{
    /// <summary>Offered to agents in <c>ConnectionSettingsOffers.opamp.heartbeat_interval_seconds</c> (the OpAMP default).</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>At most one last-seen write per agent per this long when nothing it reports changed.</summary>
    public TimeSpan LastSeenWriteInterval { get; set; } = TimeSpan.FromMinutes(2);

    public TimeSpan SuspectAfter { get; set; } = TimeSpan.FromMinutes(5);

    public TimeSpan DeadAfter { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>A dead agent's row is deleted this long after it was last seen (the gateway's sweep; otlpctl hides it too).</summary>
    public TimeSpan RemoveAfter { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Throws when the thresholds could show a healthy agent as suspect.</summary>
    public void Validate()
    {
        if (HeartbeatInterval <= TimeSpan.Zero || LastSeenWriteInterval <= TimeSpan.Zero)
        {
            throw new InvalidOperationException("OpAmp:HeartbeatInterval and OpAmp:LastSeenWriteInterval must be positive");
        }

        if (SuspectAfter <= LastSeenWriteInterval + HeartbeatInterval)
        {
            throw new InvalidOperationException($"OpAmp:SuspectAfter ({SuspectAfter}) must exceed LastSeenWriteInterval + HeartbeatInterval ({LastSeenWriteInterval + HeartbeatInterval}), or a healthy agent would show suspect");
        }

        if (DeadAfter <= SuspectAfter || RemoveAfter <= DeadAfter)
        {
            throw new InvalidOperationException("OpAmp thresholds must grow: SuspectAfter < DeadAfter < RemoveAfter");
        }
    }

    /// <summary>alive, suspect or dead for an agent last seen at <paramref name="lastSeen"/>; an agent that said goodbye is dead.</summary>
    public string Judge(DateTimeOffset lastSeen, DateTimeOffset now, bool disconnected = false)
    {
        var silent = now - lastSeen;
        if (disconnected || silent >= DeadAfter)
        {
            return AgentStates.Dead;
        }

        return silent >= SuspectAfter ? AgentStates.Suspect : AgentStates.Alive;
    }

    public bool IsRemovable(DateTimeOffset lastSeen, DateTimeOffset now) => now - lastSeen >= RemoveAfter;
}
