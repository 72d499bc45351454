using ServerlessOtlp.Client.Implementation;

namespace ServerlessOtlp.Client;

/// <summary>What <see cref="ServerlessOtlpHealth.GetHealth"/> says of an endpoint: usable, due a trial, or cut off.</summary>
public enum ServerlessOtlpEndpointState
{
    /// <summary>Circuit closed: the endpoint takes exports.</summary>
    Healthy,

    /// <summary>Its break is over: the next export to reach it is a trial that closes or reopens the circuit.</summary>
    Recovering,

    /// <summary>Circuit open: refused without touching the network until the break is over.</summary>
    Broken,
}

/// <summary>One endpoint of one exporter, as it stands now.</summary>
/// <param name="Signal">traces, metrics or logs (each signal has its own exporter and circuits).</param>
/// <param name="Circuit">Polly's circuit state: Closed, Open, HalfOpen or Isolated.</param>
/// <param name="LatencyMs">Moving average of successful exports; null until measured.</param>
/// <param name="Local">In the client's own region (or no region is configured): preferred while usable.</param>
public sealed record ServerlessOtlpEndpointHealth(
    string Signal,
    Uri Endpoint,
    string? Region,
    string? Zone,
    ServerlessOtlpEndpointState State,
    string Circuit,
    double? LatencyMs,
    bool Local);

/// <summary>The health of every live ServerlessOtlp exporter's endpoints in this process (the design's <c>GetHealth</c>).</summary>
public static class ServerlessOtlpHealth
{
    private static readonly Lock Gate = new();
    private static readonly List<WeakReference<IHealthSource>> Sources = [];

    public static IReadOnlyList<ServerlessOtlpEndpointHealth> GetHealth()
    {
        var result = new List<ServerlessOtlpEndpointHealth>();
        lock (Gate)
        {
            Sources.RemoveAll(w => !w.TryGetTarget(out _));
            foreach (var weak in Sources)
            {
                if (weak.TryGetTarget(out var source))
                {
                    result.AddRange(source.Health());
                }
            }
        }

        return result;
    }

    internal static void Register(IHealthSource source)
    {
        lock (Gate)
        {
            Sources.Add(new WeakReference<IHealthSource>(source));
        }
    }

    internal static void Unregister(IHealthSource source)
    {
        lock (Gate)
        {
            Sources.RemoveAll(w => !w.TryGetTarget(out var s) || ReferenceEquals(s, source));
        }
    }
}

/// <summary>An exporter that can say how its endpoints stand.</summary>
internal interface IHealthSource
{
    IEnumerable<ServerlessOtlpEndpointHealth> Health();
}
