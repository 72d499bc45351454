namespace ServerlessOtlp.Client.Implementation;

/// <summary>How far an endpoint's circuit lets traffic through; lower is preferred.</summary>
internal enum EndpointHealth
{
    /// <summary>Circuit closed: the endpoint is taking exports.</summary>
    Healthy = 0,

    /// <summary>Circuit half-open: one trial export will decide.</summary>
    Recovering = 1,

    /// <summary>Circuit open (or isolated): an attempt is refused without touching the network.</summary>
    Broken = 2,
}

/// <summary>The order in which one export tries the endpoints. Pure, so it is tested by tables.</summary>
internal static class EndpointOrder
{
    /// <summary>
    /// Fills <paramref name="order"/> with endpoint indexes: healthy before recovering before broken,
    /// then lowest latency (an unmeasured endpoint, NaN, first so it gets measured), then
    /// configuration order. When <paramref name="probeRoll"/> &lt; <paramref name="probeShare"/>,
    /// the endpoint at position <c>1 + probePick % (n - 1)</c> is moved to the front: a probe.
    /// Returns whether the export is a probe.
    /// </summary>
    public static bool Fill(Span<int> order, ReadOnlySpan<EndpointHealth> health, ReadOnlySpan<double> latencyMs, double probeShare, double probeRoll, int probePick)
    {
        int n = order.Length;
        for (int i = 0; i < n; i++)
        {
            order[i] = i;
        }

        // Insertion sort: a handful of endpoints, no allocation.
        for (int i = 1; i < n; i++)
        {
            int current = order[i];
            int j = i - 1;
            while (j >= 0 && Before(current, order[j], health, latencyMs))
            {
                order[j + 1] = order[j];
                j--;
            }

            order[j + 1] = current;
        }

        if (n < 2 || probeRoll >= probeShare)
        {
            return false;
        }

        int position = 1 + (int)((uint)probePick % (uint)(n - 1));
        int probe = order[position];
        for (int k = position; k > 0; k--)
        {
            order[k] = order[k - 1];
        }

        order[0] = probe;
        return true;
    }

    private static bool Before(int a, int b, ReadOnlySpan<EndpointHealth> health, ReadOnlySpan<double> latencyMs)
    {
        if (health[a] != health[b])
        {
            return health[a] < health[b];
        }

        double la = double.IsNaN(latencyMs[a]) ? -1 : latencyMs[a];
        double lb = double.IsNaN(latencyMs[b]) ? -1 : latencyMs[b];
        return la != lb ? la < lb : a < b;
    }
}
