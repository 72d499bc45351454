using ServerlessOtlp.Client.Implementation;

namespace ServerlessOtlp.Tests.Client;

public sealed class EndpointOrderTests
{
    // Health and proximity as ints in the tables: the enums are internal and theory parameters are public.
    private const int H = (int)EndpointHealth.Healthy, R = (int)EndpointHealth.Recovering, B = (int)EndpointHealth.Broken;
    private const int Z = (int)Proximity.SameZone, S = (int)Proximity.SameRegion, O = (int)Proximity.OtherRegion;

    public static TheoryData<int[], double[], int[]> Orders => new()
    {
        // Lowest latency first among healthy endpoints.
        { [H, H, H], [30, 10, 20], [1, 2, 0] },
        // Health before latency: a fast broken endpoint goes last, a recovering one before it.
        { [B, R, H], [1, 2, 50], [2, 1, 0] },
        // Unmeasured (NaN) first, so that it gets measured; ties keep configuration order.
        { [H, H, H], [10, double.NaN, 10], [1, 0, 2] },
        { [H, H], [double.NaN, double.NaN], [0, 1] },
    };

    [Theory]
    [MemberData(nameof(Orders))]
    public void Healthy_first_then_lowest_latency(int[] health, double[] latency, int[] expected)
    {
        var order = new int[health.Length];
        bool probe = EndpointOrder.Fill(order, health.Select(h => (EndpointHealth)h).ToArray(), latency, new Proximity[health.Length], probe: false, probePick: 0);
        Assert.False(probe);
        Assert.Equal(expected, order);
    }

    public static TheoryData<int[], int[], double[], int[]> RegionOrders => new()
    {
        // The own region first, however much faster another region is; the own zone before the rest of the region.
        { [H, H, H], [O, S, Z], [1, 50, 80], [2, 1, 0] },
        // Every endpoint of the own region broken: cross to the other region.
        { [B, B, H], [Z, S, O], [1, 1, 90], [2, 0, 1] },
        // An own-region endpoint whose break is over (recovering) gets the trial before another region: traffic comes back.
        { [R, H], [S, O], [5, 5], [0, 1] },
        // Within the own region, healthy before recovering, then latency.
        { [R, H, H], [S, S, S], [1, 30, 20], [2, 1, 0] },
    };

    [Theory]
    [MemberData(nameof(RegionOrders))]
    public void The_own_region_first_while_it_is_usable(int[] health, int[] proximity, double[] latency, int[] expected)
    {
        var order = new int[health.Length];
        EndpointOrder.Fill(order, health.Select(h => (EndpointHealth)h).ToArray(), latency, proximity.Select(p => (Proximity)p).ToArray(), probe: false, probePick: 0);
        Assert.Equal(expected, order);
    }

    [Theory]
    [InlineData(0, new[] { 2, 1, 0 })]
    [InlineData(1, new[] { 0, 1, 2 })]
    [InlineData(7, new[] { 0, 1, 2 })]
    public void A_probe_moves_another_endpoint_to_the_front_and_keeps_the_rest_in_order(int pick, int[] expected)
    {
        // Preferred order is 1, 2, 0.
        var order = new int[3];
        bool probe = EndpointOrder.Fill(order, [EndpointHealth.Healthy, EndpointHealth.Healthy, EndpointHealth.Healthy], [30, 10, 20], new Proximity[3], probe: true, probePick: pick);
        Assert.True(probe);
        Assert.Equal(expected, order);
    }

    [Fact]
    public void A_probe_never_crosses_to_another_region_or_to_a_broken_endpoint()
    {
        var order = new int[3];
        bool probe = EndpointOrder.Fill(order, [EndpointHealth.Healthy, EndpointHealth.Broken, EndpointHealth.Healthy], [10, 1, 1], [Proximity.SameRegion, Proximity.SameRegion, Proximity.OtherRegion], probe: true, probePick: 0);
        Assert.False(probe);
        Assert.Equal([0, 2, 1], order);
    }

    [Fact]
    public void One_endpoint_is_never_a_probe()
    {
        var order = new int[1];
        Assert.False(EndpointOrder.Fill(order, [EndpointHealth.Broken], [5], [Proximity.SameZone], probe: true, probePick: 3));
        Assert.Equal([0], order);
    }

    [Theory]
    [InlineData(null, null, "westeurope", "1", (int)Proximity.SameZone)]
    [InlineData("westeurope", null, "WestEurope", "1", (int)Proximity.SameRegion)]
    [InlineData("westeurope", "2", "westeurope", "2", (int)Proximity.SameZone)]
    [InlineData("westeurope", "2", "westeurope", "1", (int)Proximity.SameRegion)]
    [InlineData("westeurope", "2", "northeurope", "2", (int)Proximity.OtherRegion)]
    [InlineData("westeurope", null, null, null, (int)Proximity.OtherRegion)]
    public void Proximity_compares_regions_and_zones(string? clientRegion, string? clientZone, string? region, string? zone, int expected) =>
        Assert.Equal((Proximity)expected, EndpointOrder.ProximityOf(clientRegion, clientZone, region, zone));
}
