namespace ServerlessOtlp.Tenants;

// The tenant file's "agents" section (CONTRACTS.md, "Tenant file": agents.configs[]): the remote
// configs the gateway's OpAMP server hands to the tenant's agents. Validated at apply time by
// AgentConfigRules (YAML, OTTL, sizes), so the gateway only serves stored, validated text.

/// <summary><c>"agents": { "maxAgents": 1000, "configs": [ … ] }</c>.</summary>
public sealed record AgentsConfig
{
    /// <summary>
    /// Agents this tenant may register (distinct instance UIDs not yet removed); null means the gateway's
    /// <c>OpAmp:MaxAgentsPerTenant</c>, which also caps this value.
    /// </summary>
    public int? MaxAgents { get; init; }

    /// <summary>Tried in order: an agent gets the first whose <see cref="AgentConfigEntry.Match"/> it satisfies.</summary>
    public IReadOnlyList<AgentConfigEntry> Configs { get; set; } = [];
}

/// <summary>One remote config: <c>{ "name", "match", "contentType", "body" }</c>.</summary>
public sealed record AgentConfigEntry
{
    /// <summary>Shown as <c>remoteConfig.name</c> by <c>otlpctl agents</c>; the file name in the agent's config map.</summary>
    public required string Name { get; init; }

    /// <summary>Attribute → value pairs that must all equal the agent's (identifying or non-identifying) attributes; empty matches every agent.</summary>
    public IReadOnlyDictionary<string, string> Match { get; set; } = new Dictionary<string, string>();

    /// <summary>MIME type of <see cref="Body"/>; YAML types are parsed at apply time.</summary>
    public string ContentType { get; set; } = AgentConfigRules.DefaultContentType;

    /// <summary>The config text, with the placeholders of <see cref="Agents.AgentConfigPlaceholders"/> filled in per agent.</summary>
    public required string Body { get; init; }
}
