using ServerlessOtlp.Agents;

namespace ServerlessOtlp.Gateway.Agents;

/// <summary>The OpAMP server's settings (<c>ServerlessOtlp:Gateway:OpAmp</c>), on top of the failure detector's thresholds.</summary>
internal sealed class OpAmpOptions : AgentLivenessOptions
{
    /// <summary>
    /// Largest AgentToServer body, on the wire and after decompression. A full state report with a Collector's
    /// effective config is a few tens of KiB; the OpAMP specification leaves the limit to the server, and
    /// issue #11's gateway limits apply: 1 MiB, then 413.
    /// </summary>
    public int MaxRequestBytes { get; set; } = 1024 * 1024;

    /// <summary>Agents a tenant may register (distinct UIDs with a row); a tenant file's <c>agents.maxAgents</c> may lower it.</summary>
    public int MaxAgentsPerTenant { get; set; } = 10_000;

    /// <summary>
    /// Agents this replica keeps in memory (sequence number, what the table holds); past it the tenth least
    /// recently heard are forgotten. An entry is about 1.5 KiB for a Collector's description and at most
    /// ~20 KiB (<see cref="OpAmpLimits.MaxDescriptionChars"/> per list): at most ~1 GB held for hostile
    /// descriptions, ~75 MB for a real fleet of this size.
    /// </summary>
    public int MaxCachedAgents { get; set; } = 50_000;

    /// <summary>How long a replica trusts its count of a tenant's agents for the quota before it counts the rows again.</summary>
    public TimeSpan QuotaRecount { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Retry-After for a new agent refused by its tenant's quota: only removals of dead agents free room.</summary>
    public TimeSpan QuotaRetryAfter { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often a replica deletes agents dead for <see cref="AgentLivenessOptions.RemoveAfter"/>.</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromMinutes(10);
}

/// <summary>Bounds on what one agent can make the gateway keep (hostile input: README, "Security").</summary>
internal static class OpAmpLimits
{
    /// <summary>Attributes per list of an AgentDescription (identifying, non-identifying); more is refused as a bad request.</summary>
    public const int MaxAttributes = 64;

    /// <summary>Characters of an attribute name; of a value (after turning it to text).</summary>
    public const int MaxAttributeNameChars = 256;

    public const int MaxAttributeValueChars = 1024;

    /// <summary>Characters of names and values together per attribute list: what one agent can make every replica hold.</summary>
    public const int MaxDescriptionChars = 4096;

    /// <summary>Health status, last error and remote-config error messages are cut to this many characters.</summary>
    public const int MaxMessageChars = 1024;
}
