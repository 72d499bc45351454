using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Agents;

/// <summary>A remote config chosen for one agent: its entry and the <c>config_hash</c> the agent will report back.</summary>
public sealed record SelectedAgentConfig(AgentConfigEntry Entry, byte[] Hash);

/// <summary>
/// Which of a tenant's <c>agents.configs</c> an agent gets (the first whose <c>match</c> pairs all equal its
/// attributes; an empty match is the default), and its stable <c>config_hash</c>: SHA-256 over the entry's name,
/// content type and body template, the endpoint and tenant it is filled with, and — only when the body echoes
/// the agent's key — a 16-bit tag of that key. The same file gives every replica the same hash; a changed
/// entry, endpoint or key gives a new one, so the agent is sent the config again. The tag is too short to test
/// a guessed key against (the hash is stored and shown), yet changes with a rotated key 65,535 times in 65,536.
/// </summary>
public static class AgentConfigSelector
{
    // The template part of the hash, once per entry object (tenant configs are replaced, never mutated).
    private static readonly ConditionalWeakTable<AgentConfigEntry, TemplateHash> Templates = new();

    public static AgentConfigEntry? Match(AgentsConfig? agents, IReadOnlyDictionary<string, string> attributes)
    {
        if (agents is null)
        {
            return null;
        }

        foreach (var entry in agents.Configs)
        {
            bool all = true;
            foreach (var (key, value) in entry.Match)
            {
                if (!attributes.TryGetValue(key, out var actual) || !string.Equals(actual, value, StringComparison.Ordinal))
                {
                    all = false;
                    break;
                }
            }

            if (all)
            {
                return entry;
            }
        }

        return null;
    }

    public static SelectedAgentConfig? Select(AgentsConfig? agents, IReadOnlyDictionary<string, string> attributes, string endpoint, string tenant, string apiKey)
    {
        var entry = Match(agents, attributes);
        return entry is null ? null : new SelectedAgentConfig(entry, Hash(entry, endpoint, tenant, apiKey));
    }

    public static byte[] Hash(AgentConfigEntry entry, string endpoint, string tenant, string apiKey)
    {
        var template = Templates.GetValue(entry, e => new TemplateHash(e));
        byte[] inner = template.For(endpoint, tenant);
        Span<byte> input = stackalloc byte[inner.Length + 2];
        inner.CopyTo(input);
        if (template.UsesKey)
        {
            Span<byte> keyHash = stackalloc byte[32];
            SHA256.HashData(Encoding.UTF8.GetBytes("serverlessotlp-opamp-key-tag\0" + apiKey), keyHash);
            input[^2] = keyHash[0];
            input[^1] = keyHash[1];
        }

        return SHA256.HashData(input);
    }

    private sealed class TemplateHash(AgentConfigEntry entry)
    {
        private (string Endpoint, string Tenant, byte[] Hash)? _last;

        public bool UsesKey { get; } = AgentConfigPlaceholders.UsesApiKey(entry.Body);

        public byte[] For(string endpoint, string tenant)
        {
            var last = _last;
            if (last is { } l && l.Endpoint == endpoint && l.Tenant == tenant)
            {
                return l.Hash;
            }

            string text = string.Join('\0', "serverlessotlp-opamp-config-v1", entry.Name, entry.ContentType, entry.Body, endpoint, tenant);
            byte[] hash = SHA256.HashData(Encoding.UTF8.GetBytes(text));
            _last = (endpoint, tenant, hash);
            return hash;
        }
    }
}
