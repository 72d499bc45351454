namespace ServerlessOtlp.Client.Implementation;

/// <summary>How far an endpoint's circuit lets traffic through; lower is preferred.</summary>
internal enum EndpointHealth
{
    /// <summary>Circuit closed: the endpoint is taking exports.</summary>
    Healthy = 0,

    /// <summary>Circuit half-open, or open past its break duration: the next attempt is a trial that decides.</summary>
    Recovering = 1,

    /// <summary>Circuit open within its break duration: an attempt is refused without touching the network.</summary>
    Broken = 2,
}

/// <summary>Where an endpoint is relative to the client; lower is preferred.</summary>
internal enum Proximity
{
    /// <summary>The client's own zone (or no region configured on the client: every endpoint counts as near).</summary>
    SameZone = 0,

    SameRegion = 1,

    /// <summary>Another region, or an endpoint whose region is unknown.</summary>
    OtherRegion = 2,
}

/// <summary>The order in which one export tries the endpoints. Pure, so it is tested by tables.</summary>
internal static class EndpointOrder
{
    /// <summary>
    /// Fills <paramref name="order"/> with endpoint indexes. Usable endpoints (closed, or recovering:
    /// due a trial) come before broken ones; among usable ones the nearest region first — so traffic
    /// crosses to another region only while every endpoint of its own is open-circuit (or refuses
    /// the export, which then moves on), and comes back with the first successful trial — then
    /// closed before recovering, then the lowest latency (an unmeasured endpoint, NaN, first so it
    /// gets measured), then configuration order. With <paramref name="probe"/> set, the next
    /// endpoint after the preferred one in the same proximity and usable (<paramref name="probePick"/>
    /// chooses which) is moved to the front: a probe never crosses regions. Returns whether the
    /// export is a probe.
    /// </summary>
    public static bool Fill(Span<int> order, ReadOnlySpan<EndpointHealth> health, ReadOnlySpan<double> latencyMs, ReadOnlySpan<Proximity> proximity, bool probe, int probePick)
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
            while (j >= 0 && Before(current, order[j], health, latencyMs, proximity))
            {
                order[j + 1] = order[j];
                j--;
            }

            order[j + 1] = current;
        }

        if (!probe || n < 2)
        {
            return false;
        }

        // Candidates: the usable endpoints that share the preferred one's proximity.
        int first = order[0];
        int candidates = 0;
        for (int k = 1; k < n && Usable(health[order[k]]) && proximity[order[k]] == proximity[first]; k++)
        {
            candidates++;
        }

        if (candidates == 0)
        {
            return false;
        }

        int position = 1 + (int)((uint)probePick % (uint)candidates);
        int chosen = order[position];
        for (int k = position; k > 0; k--)
        {
            order[k] = order[k - 1];
        }

        order[0] = chosen;
        return true;
    }

    private static bool Usable(EndpointHealth health) => health != EndpointHealth.Broken;

    private static bool Before(int a, int b, ReadOnlySpan<EndpointHealth> health, ReadOnlySpan<double> latencyMs, ReadOnlySpan<Proximity> proximity)
    {
        if (Usable(health[a]) != Usable(health[b]))
        {
            return Usable(health[a]);
        }

        if (proximity[a] != proximity[b])
        {
            return proximity[a] < proximity[b];
        }

        if (health[a] != health[b])
        {
            return health[a] < health[b];
        }

        double la = double.IsNaN(latencyMs[a]) ? -1 : latencyMs[a];
        double lb = double.IsNaN(latencyMs[b]) ? -1 : latencyMs[b];
        return la != lb ? la < lb : a < b;
    }

    /// <summary>How near an endpoint is to a client in <paramref name="clientRegion"/>/<paramref name="clientZone"/>.</summary>
    public static Proximity ProximityOf(string? clientRegion, string? clientZone, string? region, string? zone)
    {
        if (string.IsNullOrEmpty(clientRegion))
        {
            return Proximity.SameZone;
        }

        if (!string.Equals(clientRegion, region, StringComparison.OrdinalIgnoreCase))
        {
            return Proximity.OtherRegion;
        }

        return !string.IsNullOrEmpty(clientZone) && string.Equals(clientZone, zone, StringComparison.OrdinalIgnoreCase)
            ? Proximity.SameZone
            : Proximity.SameRegion;
    }
}
