using System.Net;
using Microsoft.Extensions.Primitives;

namespace ServerlessOtlp.Gateway.Security;

/// <summary>
/// Who is calling, for per-address limits. Behind the cloud ingress every peer is the proxy, so the
/// address comes from <c>X-Forwarded-For</c> — only the entries our own proxies appended: the
/// <see cref="GatewayOptions.TrustedProxyHops"/>-th from the right. Entries further left were
/// written by the client and prove nothing.
/// </summary>
internal static class ClientAddress
{
    public static IPAddress Of(HttpContext http, int trustedProxyHops)
    {
        var peer = http.Connection.RemoteIpAddress ?? IPAddress.None;
        if (trustedProxyHops <= 0)
        {
            return Normalize(peer);
        }

        StringValues header = http.Request.Headers["X-Forwarded-For"];
        // Entries in order of appending, across repeated headers; the last ones are the nearest proxies'.
        int seen = 0;
        for (int h = header.Count - 1; h >= 0; h--)
        {
            var entries = (header[h] ?? "").AsSpan();
            while (true)
            {
                int comma = entries.LastIndexOf(',');
                var entry = entries[(comma + 1)..].Trim();
                if (!entry.IsEmpty && ++seen == trustedProxyHops)
                {
                    return IPAddress.TryParse(entry, out var address) ? Normalize(address) : Normalize(peer);
                }

                if (comma < 0)
                {
                    break;
                }

                entries = entries[..comma];
            }
        }

        // Fewer entries than proxies: the request did not come through all of them.
        return Normalize(peer);
    }

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
