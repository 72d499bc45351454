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
    /// Reads <c>ServerlessOtlp:Egress:AllowedNetworks</c> and
    /// <c>ServerlessOtlp:Egress:Tenants:&lt;tenant&gt;:AllowedNetworks</c> / <c>…:PinnedHeaders:&lt;header&gt;</c>.
    /// A network list is an array (<c>…__AllowedNetworks__0=10.0.0.0/8</c>) or one comma-separated
    /// value. Throws <see cref="InvalidOperationException"/> naming the key of a value that is not a
    /// CIDR, so a typo stops the host instead of silently refusing a backend.
    /// </summary>
    public static EgressOptions FromConfiguration(IConfiguration configuration)
    {
        var section = configuration.GetSection(Section);
        var tenants = new Dictionary<string, EgressTenantOptions>(StringComparer.Ordinal);
        foreach (var tenant in section.GetSection("Tenants").GetChildren())
        {
            var pinned = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var header in tenant.GetSection("PinnedHeaders").GetChildren())
            {
                if (header.Value is { } value)
                {
                    pinned[header.Key] = value;
                }
            }

            // The key as configuration spells it: matched ordinally, so "Acme" never gets "acme"'s list.
            tenants[tenant.Key] = new EgressTenantOptions
            {
                AllowedNetworks = Networks(tenant.GetSection("AllowedNetworks")),
                PinnedHeaders = pinned,
            };
        }

        return new EgressOptions { AllowedNetworks = Networks(section.GetSection("AllowedNetworks")), Tenants = tenants };
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
