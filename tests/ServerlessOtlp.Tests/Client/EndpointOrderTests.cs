using ServerlessOtlp.Client.Implementation;

namespace ServerlessOtlp.Tests.Client;

public sealed class EndpointOrderTests
{
    // Health as ints in the tables: EndpointHealth is internal and theory parameters are public.
    private const int H = (int)EndpointHealth.Healthy, R = (int)EndpointHealth.Recovering, B = (int)EndpointHealth.Broken;

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
        bool probe = EndpointOrder.Fill(order, health.Select(h => (EndpointHealth)h).ToArray(), latency, probeShare: 0.05, probeRoll: 0.5, probePick: 0);
        Assert.False(probe);
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
        bool probe = EndpointOrder.Fill(order, [EndpointHealth.Healthy, EndpointHealth.Healthy, EndpointHealth.Healthy], [30, 10, 20], probeShare: 0.05, probeRoll: 0.01, probePick: pick);
        Assert.True(probe);
        Assert.Equal(expected, order);
    }

    [Fact]
    public void One_endpoint_is_never_a_probe()
    {
        var order = new int[1];
        Assert.False(EndpointOrder.Fill(order, [EndpointHealth.Broken], [5], probeShare: 1, probeRoll: 0, probePick: 3));
        Assert.Equal([0], order);
    }
}
