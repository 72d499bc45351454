using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace ServerlessOtlp.Export.Egress;

/// <summary>
/// The HTTP connections of every network exporter (OTLP/HTTP, OTLP/gRPC, Loki, remote write):
/// one <see cref="SocketsHttpHandler"/> per distinct allow list, shared by the tenants that have
/// it, so a pooled connection opened under one tenant's allow list never serves a tenant without
/// it. Each handler resolves the host itself and connects only to an address the policy allows
/// (<see cref="EgressPolicy.Refusal"/>), without a proxy (which would hide the address) and
/// without following redirects (a 3xx is the exporter's permanent failure).
/// </summary>
public sealed class EgressClients : IDisposable
{
    /// <summary>
    /// How long a pooled connection lives: a DNS change (or a policy change with a new handler)
    /// takes effect within it, as <c>IHttpClientFactory</c>'s handler lifetime would.
    /// </summary>
    public static readonly TimeSpan PooledConnectionLifetime = TimeSpan.FromMinutes(2);

    private readonly ConcurrentDictionary<string, Lazy<Pool>> _pools = new(StringComparer.Ordinal);

    private readonly Lazy<Pool> _global;

    public EgressClients(EgressPolicy? policy = null)
    {
        Policy = policy ?? new EgressPolicy();
        var allowed = Policy.Options.AllowedNetworks;
        _global = new Lazy<Pool>(() => _pools.GetOrAdd(KeyOf(allowed), k => new Lazy<Pool>(() => CreatePool(k, allowed))).Value);
    }

    public EgressPolicy Policy { get; }

    /// <summary>The client for a tenant's HTTP exports (no timeout of its own: the resilience pipeline times attempts).</summary>
    public HttpClient HttpClientFor(string tenantId) => PoolFor(tenantId).Client;

    /// <summary>The handler for a tenant's gRPC channels, with a key naming its allow list (channels are cached per key and authority).</summary>
    public (string Key, HttpMessageHandler Handler) GrpcHandlerFor(string tenantId)
    {
        var pool = PoolFor(tenantId);
        return (pool.Key, pool.Handler);
    }

    public void Dispose()
    {
        foreach (var pool in _pools.Values)
        {
            if (pool.IsValueCreated)
            {
                pool.Value.Client.Dispose();
                pool.Value.Handler.Dispose();
            }
        }

        _pools.Clear();
    }

    private Pool PoolFor(string tenantId)
    {
        if (!Policy.Options.Tenants.ContainsKey(tenantId))
        {
            // Most tenants: the global allow list, keyed once.
            return _global.Value;
        }

        var allowed = Policy.AllowedNetworksFor(tenantId);
        string key = KeyOf(allowed);
        return _pools.GetOrAdd(key, k => new Lazy<Pool>(() => CreatePool(k, allowed))).Value;
    }

    /// <summary>Equal allow lists share a key (and a pool) whatever their order.</summary>
    private static string KeyOf(IReadOnlyList<IPNetwork> allowed) => string.Join(',', allowed.Select(n => n.ToString()).Order(StringComparer.Ordinal));

    private static Pool CreatePool(string key, IReadOnlyList<IPNetwork> allowed)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = (context, cancellationToken) => ConnectAsync(context.DnsEndPoint, allowed, cancellationToken),
            UseProxy = false,
            AllowAutoRedirect = false,
            PooledConnectionLifetime = PooledConnectionLifetime,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
            AutomaticDecompression = DecompressionMethods.GZip | DecompressionMethods.Deflate,

            // An unread body is drained for reuse only this far; past it the connection closes.
            MaxResponseDrainSize = BoundedContent.MaxBytes,
            EnableMultipleHttp2Connections = true,
            KeepAlivePingDelay = TimeSpan.FromSeconds(60),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(20),
        };
        return new Pool(key, handler, new HttpClient(handler, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan });
    }

    /// <summary>
    /// Resolves <paramref name="endpoint"/>'s host, drops every address the policy refuses, and
    /// connects to the first allowed one that answers. Throws <see cref="EgressRefusedException"/>
    /// when none is allowed; the last connect error when the allowed ones do not answer.
    /// </summary>
    internal static async ValueTask<Stream> ConnectAsync(DnsEndPoint endpoint, IReadOnlyList<IPNetwork> allowed, CancellationToken cancellationToken)
    {
        string host = endpoint.Host.StartsWith('[') ? endpoint.Host[1..^1] : endpoint.Host;
        IPAddress[] candidates = IPAddress.TryParse(host, out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(host, cancellationToken);
        var refusals = new List<string>();
        Exception? unreachable = null;
        foreach (var candidate in candidates)
        {
            if (EgressPolicy.Refusal(candidate, allowed) is { } refusal)
            {
                refusals.Add(refusal);
                continue;
            }

            var address = EgressAddresses.Normalize(candidate);
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, endpoint.Port), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                unreachable = ex;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        if (unreachable is not null)
        {
            throw unreachable;
        }

        if (refusals.Count == 0)
        {
            // No address at all: a DNS problem, as transient as an unknown host.
            throw new SocketException((int)SocketError.HostNotFound);
        }

        throw new EgressRefusedException(endpoint.Host, refusals);
    }

    private sealed record Pool(string Key, SocketsHttpHandler Handler, HttpClient Client);
}

/// <summary>A connection the egress policy refused: permanent for the export (the backend's address is not allowed).</summary>
internal sealed class EgressRefusedException(string host, IReadOnlyList<string> reasons)
    : Exception($"egress policy refused {host}: {string.Join("; ", reasons.Distinct())}")
{
    public string Host { get; } = host;

    /// <summary>The refusal somewhere in <paramref name="exception"/>'s inner exceptions (HttpClient and grpc-dotnet wrap it); null when none.</summary>
    public static EgressRefusedException? In(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is EgressRefusedException refused)
            {
                return refused;
            }
        }

        return null;
    }
}
