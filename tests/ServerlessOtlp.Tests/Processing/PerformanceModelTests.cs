using Microsoft.Extensions.Time.Testing;
using ServerlessOtlp.Performance;

namespace ServerlessOtlp.Tests.Processing;

/// <summary>The performance model of issue 16: per-node recorders whose snapshots merge across nodes.</summary>
public sealed class PerformanceModelTests
{
    // A window boundary, so that "advance 10 s" is "the next window".
    private static readonly DateTimeOffset Start = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);

    [Fact]
    public void A_recorder_keeps_items_per_aligned_window_for_an_hour_and_latency_and_errors_for_a_minute()
    {
        var time = new FakeTimeProvider(Start);
        var recorder = new ComponentRecorder(time);
        Assert.Null(recorder.Snapshot());

        recorder.Record(TimeSpan.FromMilliseconds(2), items: 100);
        recorder.Record(TimeSpan.FromMilliseconds(2), items: 50, ok: false);
        time.Advance(TimeSpan.FromSeconds(10));
        recorder.Record(TimeSpan.FromMilliseconds(40), items: 7);

        var s = recorder.Snapshot()!;
        Assert.Equal(ComponentRecorder.WindowOf(Start) + 1, s.Window);
        Assert.Equal([7L, 150L], s.Items); // age 0 = the window being filled
        Assert.Equal((3L, 1L), (s.Operations, s.Errors));
        Assert.Equal(3, s.Latency.Sum());
        Assert.Equal(2, s.Latency[LatencyScale.Index(2)]);

        // After a minute the latency and the error count have aged out; the windows stay for the hour.
        time.Advance(TimeSpan.FromSeconds(60));
        s = recorder.Snapshot()!;
        Assert.Equal((0L, 0L, 0), (s.Operations, s.Errors, s.Latency.Length));
        Assert.Equal([0L, 0L, 0L, 0L, 0L, 0L, 7L, 150L], s.Items);

        // An hour after the first window (360 windows on), its slot is reused from zero and the rest has aged out.
        time.Advance(TimeSpan.FromSeconds((10 * ComponentRecorder.Windows) - 60));
        recorder.Record(TimeSpan.FromMilliseconds(1), items: 1);
        s = recorder.Snapshot()!;
        Assert.Equal(1L, s.Items[0]);
        Assert.Equal(1L, s.Items.Sum());
    }

    [Fact]
    public void Merged_percentiles_come_from_the_sum_of_the_nodes_histograms_not_from_their_percentiles()
    {
        var time = new FakeTimeProvider(Start);
        var fast = new ComponentRecorder(time);
        var slow = new ComponentRecorder(time);
        for (int i = 0; i < 90; i++)
        {
            fast.Record(TimeSpan.FromMilliseconds(1), 1);
        }

        for (int i = 0; i < 10; i++)
        {
            slow.Record(TimeSpan.FromMilliseconds(400), 1);
        }

        var merged = DeploymentPerformance.Merge(
            [Sample(PerformanceComponents.Drain, fast.Snapshot()!), Sample(PerformanceComponents.Drain, slow.Snapshot()!)],
            time.GetUtcNow())[PerformanceComponents.Drain];

        // 90 of 100 operations took 1 ms: p50 is 1 ms (an average of the nodes' p50s would say ~200 ms), p95 and p99 are 400 ms.
        Assert.InRange(merged.P50Ms, 0.91, 1.1);
        Assert.InRange(merged.P95Ms, 364, 437);
        Assert.InRange(merged.P99Ms, 364, 437);
        Assert.Equal(100, merged.Operations);
    }

    [Fact]
    public void The_peak_is_the_busiest_window_of_the_deployments_sum_and_every_component_is_present()
    {
        var time = new FakeTimeProvider(Start);
        var a = new ComponentRecorder(time);
        var b = new ComponentRecorder(time);
        a.Record(TimeSpan.FromMilliseconds(1), 600); // window 0: 600 + 0
        b.Record(TimeSpan.FromMilliseconds(1), 100); // window 0: 700 in all
        time.Advance(TimeSpan.FromSeconds(10));
        b.Record(TimeSpan.FromMilliseconds(1), 650); // window 1: 0 + 650
        time.Advance(TimeSpan.FromSeconds(10));
        a.Record(TimeSpan.FromMilliseconds(1), 5);   // window 2: still filling, not in current or peak
        var snapshots = (a.Snapshot()!, b.Snapshot()!);

        var all = DeploymentPerformance.Merge(
            [Sample(PerformanceComponents.Gateway, snapshots.Item1, Start), Sample(PerformanceComponents.Gateway, snapshots.Item2, Start)],
            time.GetUtcNow());

        var gateway = all[PerformanceComponents.Gateway];
        Assert.Equal(70, gateway.Peak);      // 700 items in window 0; a sum of per-node peaks would say 125/s
        Assert.Equal(65, gateway.Current);   // the last complete window
        Assert.Equal(67.5, gateway.Average); // 1,350 items over the 20 s since the nodes started
        Assert.Equal(PerformanceComponents.All.Order(), all.Keys.Order());
        Assert.Equal(ComponentFigures.Idle, all[PerformanceComponents.EndToEnd]);
    }

    [Fact]
    public void A_damaged_snapshot_is_bounded_and_never_breaks_the_merge()
    {
        var now = Start;
        var damaged = new ComponentSnapshot(ComponentRecorder.WindowOf(now), new long[100_000], -5, -1, [.. Enumerable.Repeat(-3L, 1000)]);
        var future = new ComponentSnapshot(ComponentRecorder.WindowOf(now) + 50, [1_000_000], 1, 0, [1]);

        var merged = DeploymentPerformance.Merge([Sample(PerformanceComponents.Export, damaged), Sample(PerformanceComponents.Export, future)], now)[PerformanceComponents.Export];

        Assert.Equal((0.0, 0.0), (merged.Peak, merged.ErrorRate)); // the future window is ignored, negatives count as nothing
        Assert.Equal(LatencyScale.Representative(0), merged.P99Ms);
    }

    [Theory]
    [InlineData(0.01)]
    [InlineData(0.5)]
    [InlineData(3)]
    [InlineData(250)]
    [InlineData(59_000)]
    public void A_percentile_read_at_a_buckets_middle_is_within_ten_percent(double ms)
    {
        double read = LatencyScale.Representative(LatencyScale.Index(ms));
        if (ms >= LatencyScale.BaseMilliseconds)
        {
            Assert.InRange(read / ms, 0.9, 1.1);
        }
        else
        {
            Assert.Equal(0, LatencyScale.Index(ms)); // faster than the scale: the first bucket
        }
    }

    private static DeploymentPerformance.NodeSample Sample(string component, ComponentSnapshot snapshot, DateTimeOffset? startedAt = null) =>
        new(new Dictionary<string, ComponentSnapshot> { [component] = snapshot }, startedAt);
}

/// <summary>The tenant label's cardinality cap (issue 16): a deployment of many tenants cannot multiply every metric's series.</summary>
public sealed class TenantLabelTests
{
    [Fact]
    public void The_first_tenants_keep_their_id_later_ones_share_other_and_none_is_empty()
    {
        var labels = new TenantLabel(limit: 2);
        Assert.Equal(("acme", "globex"), (labels.Of("acme"), labels.Of("globex")));
        Assert.Equal(TenantLabel.Other, labels.Of("initech"));
        Assert.Equal(TenantLabel.Other, labels.Of("umbrella"));
        Assert.Equal("acme", labels.Of("acme")); // a tenant seen before the cap keeps its label
        Assert.Equal(("", ""), (labels.Of(null), labels.Of("")));
    }

    [Fact]
    public void Thousands_of_tenants_make_at_most_the_limit_plus_one_label_values()
    {
        var labels = new TenantLabel();
        var seen = Enumerable.Range(0, 5_000).AsParallel().Select(i => labels.Of("t" + i)).ToHashSet();
        Assert.InRange(seen.Count, TenantLabel.DefaultLimit + 1, TenantLabel.DefaultLimit + 1 + Environment.ProcessorCount);
        Assert.Contains(TenantLabel.Other, seen);
    }
}
