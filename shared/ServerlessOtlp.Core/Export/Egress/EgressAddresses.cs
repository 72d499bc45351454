using System.Net;
using System.Net.Sockets;

namespace ServerlessOtlp.Export.Egress;

/// <summary>What an address is, for the egress policy.</summary>
public enum AddressClass
{
    /// <summary>Anything else: reachable by every tenant.</summary>
    Public,

    /// <summary>Loopback and private ranges: reachable only inside an operator's allowed network.</summary>
    Private,

    /// <summary>Link-local, metadata and platform endpoints, unspecified, multicast, reserved: never.</summary>
    AlwaysRefused,
}

/// <summary>
/// The address ranges of the egress policy, one pure function. IPv6 forms that carry an IPv4
/// address (IPv4-mapped <c>::ffff:a.b.c.d</c>, IPv4-compatible <c>::a.b.c.d</c>, NAT64
/// <c>64:ff9b::a.b.c.d</c>) are judged by that IPv4 address as well, so no spelling of
/// 169.254.169.254 gets through.
/// </summary>
internal static class EgressAddresses
{
    /// <summary>
    /// Never connected to, whatever the operator allows: link-local (169.254.0.0/16 holds the
    /// Azure, AWS and GCP instance metadata services at 169.254.169.254), Azure's platform address
    /// (168.63.129.16: wire server, DNS, health probes), AWS's IPv6 metadata address, "this network"
    /// (0.0.0.0/8 reaches the local host on Linux), multicast, and the reserved 240.0.0.0/4 with broadcast.
    /// </summary>
    private static readonly IPNetwork[] AlwaysRefused =
    [
        IPNetwork.Parse("0.0.0.0/8"),
        IPNetwork.Parse("169.254.0.0/16"),
        IPNetwork.Parse("168.63.129.16/32"),
        IPNetwork.Parse("224.0.0.0/4"),
        IPNetwork.Parse("240.0.0.0/4"),
        IPNetwork.Parse("::/128"),
        IPNetwork.Parse("fe80::/10"),
        IPNetwork.Parse("ff00::/8"),
        IPNetwork.Parse("fd00:ec2::254/128"),
    ];

    /// <summary>Loopback (RFC 1122, RFC 4291), RFC 1918, shared address space (RFC 6598), unique local (RFC 4193), site-local (deprecated, RFC 3879).</summary>
    private static readonly IPNetwork[] PrivateRanges =
    [
        IPNetwork.Parse("127.0.0.0/8"),
        IPNetwork.Parse("10.0.0.0/8"),
        IPNetwork.Parse("172.16.0.0/12"),
        IPNetwork.Parse("192.168.0.0/16"),
        IPNetwork.Parse("100.64.0.0/10"),
        IPNetwork.Parse("::1/128"),
        IPNetwork.Parse("fc00::/7"),
        IPNetwork.Parse("fec0::/10"),
    ];

    /// <summary>Host names of cloud metadata services (GCP, AWS): refused by name too, before DNS says where they lead.</summary>
    private static readonly HashSet<string> MetadataHosts = new(StringComparer.OrdinalIgnoreCase)
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
    };

    private static readonly IPNetwork Ipv4Compatible = IPNetwork.Parse("::/96");
    private static readonly IPNetwork Nat64 = IPNetwork.Parse("64:ff9b::/96");

    public static AddressClass Classify(IPAddress address)
    {
        var embedded = EmbeddedIpv4(address);
        foreach (var candidate in embedded is null ? [address] : new[] { address, embedded })
        {
            if (In(AlwaysRefused, candidate))
            {
                return AddressClass.AlwaysRefused;
            }
        }

        foreach (var candidate in embedded is null ? [address] : new[] { address, embedded })
        {
            if (In(PrivateRanges, candidate))
            {
                return AddressClass.Private;
            }
        }

        return AddressClass.Public;
    }

    /// <summary>
    /// Why an endpoint is refused whatever the operator allows, judged on the URL alone: its host
    /// is an IP literal in an always-refused range (in any spelling <see cref="Uri"/> accepts:
    /// <c>[::ffff:169.254.169.254]</c>, <c>2852039166</c>) or a metadata service's name. Null
    /// when the URL alone does not say: the connect-time check judges the resolved addresses.
    /// </summary>
    public static string? RefusedEndpoint(Uri endpoint)
    {
        string host = endpoint.IdnHost.TrimEnd('.');
        if (endpoint.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6
            && IPAddress.TryParse(host.Trim('[', ']'), out var address)
            && Classify(address) == AddressClass.AlwaysRefused)
        {
            return $"{address} is a link-local, metadata, platform, unspecified or multicast address; exporters never connect there";
        }

        return MetadataHosts.Contains(host) ? $"{host} is a cloud metadata service; exporters never connect there" : null;
    }

    /// <summary>The address to check against allow lists and to connect to: an IPv4-mapped address as IPv4, anything else as it is.</summary>
    public static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    /// <summary>True when <paramref name="address"/> (or the IPv4 address it carries) is inside one of <paramref name="networks"/>.</summary>
    public static bool InAny(IReadOnlyList<IPNetwork> networks, IPAddress address)
    {
        var embedded = EmbeddedIpv4(address);
        for (int i = 0; i < networks.Count; i++)
        {
            if (networks[i].Contains(address) || (embedded is not null && networks[i].Contains(embedded)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The IPv4 address an IPv6 address carries (mapped, compatible or NAT64); null for none.</summary>
    internal static IPAddress? EmbeddedIpv4(IPAddress address)
    {
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return null;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        if (Ipv4Compatible.Contains(address) || Nat64.Contains(address))
        {
            Span<byte> bytes = stackalloc byte[16];
            address.TryWriteBytes(bytes, out _);

            // :: and ::1 are IPv6 addresses in their own right (unspecified, loopback).
            return address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.IPv6Loopback) ? null : new IPAddress(bytes[12..]);
        }

        return null;
    }

    private static bool In(IPNetwork[] networks, IPAddress address)
    {
        foreach (var network in networks)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }
}
