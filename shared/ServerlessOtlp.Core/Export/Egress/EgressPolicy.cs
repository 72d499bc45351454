using System.Net;

namespace ServerlessOtlp.Export.Egress;

/// <summary>
/// The one egress decision for every exporter connection: may tenant T connect to address A?
/// Always-refused addresses never; public ones always; loopback and private ones when inside the
/// operator's global or T's own allowed networks. Judged on the resolved address at connect time
/// (<see cref="EgressClients"/>), so DNS cannot point a tenant's endpoint somewhere it may not go.
/// </summary>
public sealed class EgressPolicy
{
    private static readonly IReadOnlyDictionary<string, string> NoHeaders = new Dictionary<string, string>();

    public EgressPolicy(EgressOptions? options = null)
    {
        Options = options ?? new EgressOptions();
    }

    public EgressOptions Options { get; }

    /// <summary>The networks tenant <paramref name="tenantId"/> may reach beyond public addresses: the global list and its own.</summary>
    public IReadOnlyList<IPNetwork> AllowedNetworksFor(string tenantId) =>
        Options.Tenants.TryGetValue(tenantId, out var tenant) && tenant.AllowedNetworks.Count > 0
            ? [.. Options.AllowedNetworks, .. tenant.AllowedNetworks]
            : Options.AllowedNetworks;

    /// <summary>Headers the operator pinned for the tenant (empty for most).</summary>
    public IReadOnlyDictionary<string, string> PinnedHeadersFor(string tenantId) =>
        Options.Tenants.TryGetValue(tenantId, out var tenant) ? tenant.PinnedHeaders : NoHeaders;

    /// <summary>Null when a connection to <paramref name="address"/> is allowed under <paramref name="allowed"/>; else why not.</summary>
    public static string? Refusal(IPAddress address, IReadOnlyList<IPNetwork> allowed) => EgressAddresses.Classify(address) switch
    {
        AddressClass.AlwaysRefused => $"{address} is a link-local, metadata, platform, unspecified or multicast address",
        AddressClass.Private when !EgressAddresses.InAny(allowed, address) =>
            $"{address} is a loopback or private address outside the allowed networks (ServerlessOtlp:Egress:AllowedNetworks, or per tenant ServerlessOtlp:Egress:Tenants:<tenant>:AllowedNetworks)",
        _ => null,
    };
}
