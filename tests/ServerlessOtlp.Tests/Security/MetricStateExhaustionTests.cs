using ServerlessOtlp.Export.PrometheusRemoteWrite;
using ServerlessOtlp.Tests.Export;

namespace ServerlessOtlp.Tests.Security;

/// <summary>
/// Delta exponential histograms are accumulated per series for remote write: a tenant's points must
/// not make that allocate by the spread of their bucket indexes (two points at offsets −5·10^8 and
/// +5·10^8 asked for an 8 GB array; ±1.1·10^9 overflowed).
/// </summary>
public sealed class MetricStateExhaustionTests
{
    private static RemoteWriteBatch Convert(SeriesStateStore store, ulong t, int scale, int offset, ulong[] counts)
    {
        var batch = new RemoteWriteConverter(new PrometheusRemoteWriteOptions()).Convert(
            TestMetrics.Request(TestMetrics.Exponential("spread", "By", t, scale, zeroCount: 0, offset, counts, delta: true)), "acme\x1fprom", store.Begin());
        batch.State.Commit();
        return batch;
    }

    [Theory]
    [InlineData(0, 500_000_000)]
    [InlineData(0, 1_100_000_000)]
    [InlineData(25, 1)] // a scale the data model does not have
    public void Points_whose_buckets_no_real_value_can_fall_in_are_dropped_without_allocating(int scale, int spread)
    {
        var store = new SeriesStateStore();
        ulong t = TestMetrics.NowNs();
        long before = GC.GetAllocatedBytesForCurrentThread();
        var first = Convert(store, t, scale, -spread, [1]);
        var second = Convert(store, t + 1_000_000_000, scale, spread, [1]);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Single(first.DroppedPoints);
        Assert.Single(second.DroppedPoints);
        Assert.True(allocated < 1024 * 1024, $"allocated {allocated} bytes");
    }

    [Fact]
    public void Far_apart_buckets_at_a_fine_scale_are_downscaled_into_at_most_160_instead_of_allocated()
    {
        // At scale 20 indexes of ±5·10^8 are finite values (2^(±476)): real, but far apart.
        var store = new SeriesStateStore();
        ulong t = TestMetrics.NowNs();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Convert(store, t, 20, -500_000_000, [1, 2]);
        var second = Convert(store, t + 1_000_000_000, 20, 500_000_000, [3]);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Empty(second.DroppedPoints);
        Assert.True(allocated < 4 * 1024 * 1024, $"allocated {allocated} bytes");
        // The running total keeps every count: 1 + 2 + 3 in the buckets (cumulative +Inf bucket = count).
        var inf = second.Series.Single(s => s.Series.Labels.Any(l => l.Name == "le" && l.Value == "+Inf"));
        Assert.Equal(6, inf.Series.Samples.Single().Value);
        int buckets = second.Series.Count(s => s.Series.Labels.Any(l => l.Name == "__name__" && l.Value.EndsWith("_bucket", StringComparison.Ordinal)));
        Assert.InRange(buckets, 2, ExponentialView.MaxAccumulatedBuckets + 2);
    }
}
