using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;

namespace ServerlessOtlp.Export.Egress;

/// <summary>
/// Where exporters may connect (configuration section <c>ServerlessOtlp:Egress</c>). Public
/// addresses always; loopback and private ranges only inside <see cref="AllowedNetworks"/> (for
/// every tenant) or a tenant's own <see cref="EgressTenantOptions.AllowedNetworks"/>; link-local,
/// metadata and platform addresses never (<see cref="EgressAddresses"/>).
/// </summary>
public sealed record EgressOptions
{
    public const string Section = "ServerlessOtlp:Egress";

    /// <summary>Networks every tenant may reach although they are loopback or private (e.g. a shared Tempo in a peered VNet).</summary>
    public IReadOnlyList<IPNetwork> AllowedNetworks { get; init; } = [];

    /// <summary>Per tenant, keyed by the exact (case-sensitive) tenant id.</summary>
    public IReadOnlyDictionary<string, EgressTenantOptions> Tenants { get; init; } = new Dictionary<string, EgressTenantOptions>(StringComparer.Ordinal);

    /// <summary>Loopback and every private range: what <c>otlpctl dev</c> adds, since local backends are the point there.</summary>
    public static IReadOnlyList<IPNetwork> LocalNetworks { get; } =
    [
        IPNetwork.Parse("127.0.0.0/8"),
        IPNetwork.Parse("::1/128"),
        IPNetwork.Parse("10.0.0.0/8"),
        IPNetwork.Parse("172.16.0.0/12"),
        IPNetwork.Parse("192.168.0.0/16"),
        IPNetwork.Parse("100.64.0.0/10"),
        IPNetwork.Parse("fc00::/7"),
    ];

    /// <summary>
    /// Reads <c>ServerlessOtlp:Egress:AllowedNetworks</c> and the per-tenant settings, in either of
    /// two shapes. Keyed by tenant id: <c>Tenants:&lt;tenant&gt;:AllowedNetworks</c> and
    /// <c>Tenants:&lt;tenant&gt;:PinnedHeaders:&lt;header&gt;</c>. As a list whose values carry the id
    /// and the header names: <c>TenantRules:&lt;n&gt;:Tenant</c>, <c>…:AllowedNetworks</c>,
    /// <c>…:PinnedHeaders:&lt;m&gt;:Name</c> / <c>…:Value</c> — for ids and headers a setting name
    /// cannot spell (Azure app setting names allow only letters, digits, <c>.</c> and <c>_</c>; .NET
    /// configuration keys ignore case, so <c>acme</c> and <c>Acme</c> need the list). A network list is
    /// an array (<c>…__AllowedNetworks__0=10.0.0.0/8</c>) or one comma-separated value. Throws
    /// <see cref="InvalidOperationException"/> naming the key of a value that does not parse or of a
    /// header pinned to two values, so a typo stops the host instead of silently refusing a backend.
    /// </summary>
    public static EgressOptions FromConfiguration(IConfiguration configuration)
    {
        var section = configuration.GetSection(Section);
        var tenants = new Dictionary<string, (List<IPNetwork> Networks, Dictionary<string, (string Value, string Key)> Pinned)>(StringComparer.Ordinal);
        (List<IPNetwork> Networks, Dictionary<string, (string Value, string Key)> Pinned) For(string tenant) =>
            tenants.TryGetValue(tenant, out var entry) ? entry : tenants[tenant] = ([], new(StringComparer.OrdinalIgnoreCase));

        void Pin(string tenant, string header, string value, string key)
        {
            var pinned = For(tenant).Pinned;
            if (pinned.TryGetValue(header, out var other) && other.Value != value)
            {
                throw new InvalidOperationException($"{key}: header {header} of tenant {tenant} is pinned to two values (also {other.Key})");
            }

            pinned[header] = (value, key);
        }

        foreach (var tenant in section.GetSection("Tenants").GetChildren())
        {
            // The key as configuration spells it, matched ordinally: "Acme" never gets "acme"'s settings.
            For(tenant.Key).Networks.AddRange(Networks(tenant.GetSection("AllowedNetworks")));
            foreach (var header in tenant.GetSection("PinnedHeaders").GetChildren())
            {
                if (header.Value is { } value)
                {
                    Pin(tenant.Key, header.Key, value, header.Path);
                }
            }
        }

        foreach (var rule in section.GetSection("TenantRules").GetChildren())
        {
            string tenant = rule["Tenant"] is { Length: > 0 } id ? id : throw new InvalidOperationException($"{rule.Path}:Tenant is required (the exact tenant id)");
            For(tenant).Networks.AddRange(Networks(rule.GetSection("AllowedNetworks")));
            foreach (var header in rule.GetSection("PinnedHeaders").GetChildren())
            {
                string name = header["Name"] is { Length: > 0 } n ? n : throw new InvalidOperationException($"{header.Path}:Name is required");
                Pin(tenant, name, header["Value"] ?? "", header.Path);
            }
        }

        return new EgressOptions
        {
            AllowedNetworks = Networks(section.GetSection("AllowedNetworks")),
            Tenants = tenants.ToDictionary(
                t => t.Key,
                t => new EgressTenantOptions
                {
                    AllowedNetworks = t.Value.Networks,
                    PinnedHeaders = t.Value.Pinned.ToDictionary(h => h.Key, h => h.Value.Value, StringComparer.OrdinalIgnoreCase),
                },
                StringComparer.Ordinal),
        };
    }

    /// <summary>These options with <see cref="LocalNetworks"/> allowed for everyone.</summary>
    public EgressOptions WithLocalNetworks() => this with { AllowedNetworks = [.. AllowedNetworks, .. LocalNetworks] };

    /// <summary>A CIDR (<c>10.0.0.0/8</c>, <c>fd00::/8</c>) or a single address; host bits past the prefix are refused.</summary>
    public static bool TryParseNetwork(string text, out IPNetwork network)
    {
        text = text.Trim();
        if (!text.Contains('/', StringComparison.Ordinal) && IPAddress.TryParse(text, out var single))
        {
            network = new IPNetwork(single, single.AddressFamily == AddressFamily.InterNetwork ? 32 : 128);
            return true;
        }

        // IPNetwork masks host bits away; "10.1.2.3/8" is more likely a typo than 10.0.0.0/8, so it is refused.
        return IPNetwork.TryParse(text, out network) && HostBitsClear(text, network);
    }

    private static bool HostBitsClear(string text, IPNetwork network)
    {
        if (!IPAddress.TryParse(text.AsSpan(0, text.IndexOf('/', StringComparison.Ordinal)), out var written))
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[16];
        written.TryWriteBytes(bytes, out int length);
        for (int bit = network.PrefixLength; bit < length * 8; bit++)
        {
            if ((bytes[bit / 8] & (0x80 >> (bit % 8))) != 0)
            {
                return false;
            }
        }

        return true;
    }

    private static List<IPNetwork> Networks(IConfigurationSection section)
    {
        var values = new List<(string Key, string Value)>();
        if (section.Value is { } joined)
        {
            values.AddRange(joined.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(v => (section.Path, v)));
        }

        foreach (var child in section.GetChildren())
        {
            if (child.Value is { } value)
            {
                values.Add((child.Path, value));
            }
        }

        var networks = new List<IPNetwork>(values.Count);
        foreach (var (key, value) in values)
        {
            if (!TryParseNetwork(value, out var network))
            {
                throw new InvalidOperationException($"{key}: \"{value}\" is not a network; expected a CIDR such as 10.0.0.0/8 or fd00::/8 (no bits set past the prefix) or one address");
            }

            networks.Add(network);
        }

        return networks;
    }
}

/// <summary>What the operator sets for one tenant: extra networks it may reach, and headers it cannot change.</summary>
public sealed record EgressTenantOptions
{
    public IReadOnlyList<IPNetwork> AllowedNetworks { get; init; } = [];

    /// <summary>
    /// Headers the operator fixes for this tenant (e.g. <c>X-Scope-OrgID</c>, the backend's tenancy):
    /// sent on every export, replacing whatever the tenant file says for that header name.
    /// </summary>
    public IReadOnlyDictionary<string, string> PinnedHeaders { get; init; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
}
