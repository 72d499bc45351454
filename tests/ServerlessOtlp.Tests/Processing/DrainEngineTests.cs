using System.Diagnostics;
using Azure.Storage.Blobs.Specialized;
using Microsoft.Extensions.Time.Testing;
using ServerlessOtlp.Log;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Processing;

[Collection(AzuriteCollection.Name)]
public sealed class DrainEngineTests(AzuriteFixture azurite, Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task Drain_delivers_every_event_checkpoints_at_the_end_and_releases_the_lease()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        await ctx.AppendSpansAsync(0, 0, 45);
        var engine = await ctx.EngineAsync(DrainTestContext.Options("drainer-a"));

        var result = await engine.DrainAsync(0);

        Assert.Equal(DrainEnd.Idle, result.End);
        Assert.Equal(45, result.Events);
        Assert.Equal(Enumerable.Range(0, 45), ctx.Delivered().Order());
        var end = await ctx.Log.GetEndAsync(0);
        Assert.Equal(end.Value, (await ctx.Checkpoints.ReadAsync(ctx.Log.Name, "$Default", 0)).Position);
        Assert.Equal(end, result.Checkpoint);
        var lease = await ctx.Leases.ReadAsync(ctx.Log.Name, "$Default", 0);
        Assert.True(lease.IsClaimable);
        Assert.Null(lease.Owner);
    }

    [Fact]
    public async Task Two_drainers_never_process_a_partition_at_once_and_together_deliver_everything()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        const int count = 120;
        await ctx.AppendSpansAsync(0, 0, count);
        var probe = new ProbeProcessor(ctx.FileProcessor()) { Delay = TimeSpan.FromMilliseconds(2) };
        // A short budget makes the two hand the partition back and forth many times.
        var engines = new[]
        {
            await ctx.EngineAsync(DrainTestContext.Options("drainer-a", o => o.TimeBudget = TimeSpan.FromMilliseconds(150)), probe),
            await ctx.EngineAsync(DrainTestContext.Options("drainer-b", o => o.TimeBudget = TimeSpan.FromMilliseconds(150)), probe),
        };
        var claims = new int[2];
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(15));

        async Task RunAsync(int i)
        {
            while (ctx.Delivered().Distinct().Count() < count && !deadline.IsCancellationRequested)
            {
                var result = await engines[i].DrainAsync(0, cancellationToken: deadline.Token);
                if (result.End != DrainEnd.NotClaimed)
                {
                    Interlocked.Increment(ref claims[i]);
                }
            }
        }

        // Each holds the partition once, one after the other (a hand-over through the lease, in either order: which
        // of two racing claimants wins is the scheduler's choice, so the race alone cannot promise both a turn) …
        for (int i = 0; i < engines.Length; i++)
        {
            var first = await engines[i].DrainAsync(0, cancellationToken: deadline.Token);
            Assert.NotEqual(DrainEnd.NotClaimed, first.End);
            claims[i]++;
        }

        // … then both race for it until everything is delivered.
        await Task.WhenAll(RunAsync(0), RunAsync(1));

        Assert.Equal(1, probe.MaxConcurrent);
        Assert.Equal(Enumerable.Range(0, count), ctx.Delivered().Distinct().Order());
        Assert.All(claims, c => Assert.True(c > 0, "both drainers should have held the partition at some point"));
    }

    [Fact]
    public async Task A_frozen_drainer_is_taken_over_within_the_lease_ttl_and_nothing_is_lost()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        const int count = 40, batch = 10;
        var ttl = TimeSpan.FromSeconds(3);
        await ctx.AppendSpansAsync(0, 0, count);
        // The frozen drainer's clock stands still, so its renewal loop stops with it.
        var frozen = new FreezingProcessor(ctx.FileProcessor(), freezeAtSpan: 15);
        var a = await ctx.EngineAsync(DrainTestContext.Options("drainer-a", o => { o.LeaseTtl = ttl; o.ExportTimeout = TimeSpan.FromSeconds(1); o.BatchMaxEvents = batch; }), frozen, new FakeTimeProvider(DateTimeOffset.UtcNow));
        var b = await ctx.EngineAsync(DrainTestContext.Options("drainer-b", o => { o.LeaseTtl = ttl; o.ExportTimeout = TimeSpan.FromSeconds(1); o.BatchMaxEvents = batch; }));
        var crashed = a.DrainAsync(0);
        try
        {
            await frozen.Frozen.WaitAsync(TimeSpan.FromSeconds(10));
            var frozenAt = Stopwatch.StartNew();
            var result = await DrainOnceClaimableAsync(b, TimeSpan.FromSeconds(10));

            Assert.NotEqual(DrainEnd.NotClaimed, result.End);
            // How soon is the lease's business (LeaseStoreTests, by the service clock); here: taken over, nothing lost.
            output.WriteLine($"taken over {frozenAt.Elapsed.TotalSeconds:F1} s after the freeze (lease TTL {ttl.TotalSeconds} s)");
            var delivered = ctx.Delivered();
            Assert.Equal(Enumerable.Range(0, count), delivered.Distinct().Order());
            int duplicates = delivered.Count - count;
            Assert.InRange(duplicates, 0, batch);
            Assert.Equal((await ctx.Log.GetEndAsync(0)).Value, (await ctx.Checkpoints.ReadAsync(ctx.Log.Name, "$Default", 0)).Position);
        }
        finally
        {
            frozen.Thaw();
            await crashed.WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    [Fact]
    public async Task A_stalled_drainer_that_lost_its_lease_stops_without_writing_its_checkpoint()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        await ctx.AppendSpansAsync(0, 0, 30);
        var frozen = new FreezingProcessor(ctx.FileProcessor(), freezeAtSpan: 12);
        var a = await ctx.EngineAsync(DrainTestContext.Options("drainer-a", o => { o.LeaseTtl = TimeSpan.FromSeconds(2); o.ExportTimeout = TimeSpan.FromMilliseconds(500); }), frozen, new FakeTimeProvider(DateTimeOffset.UtcNow));
        var stalled = a.DrainAsync(0);
        await frozen.Frozen.WaitAsync(TimeSpan.FromSeconds(10));
        var afterFirstBatch = await ctx.Checkpoints.ReadAsync(ctx.Log.Name, "$Default", 0);
        Assert.Equal("drainer-a", afterFirstBatch.UpdatedBy);

        // Another owner claims once the lease expires, fences the row and drains to the end.
        var b = await ctx.EngineAsync(DrainTestContext.Options("drainer-b"));
        var taken = await DrainOnceClaimableAsync(b, TimeSpan.FromSeconds(8));
        Assert.Equal(DrainEnd.Idle, taken.End);
        var fencedByB = await ctx.Checkpoints.ReadAsync(ctx.Log.Name, "$Default", 0);

        frozen.Thaw();
        var result = await stalled.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(DrainEnd.LeaseLost, result.End);
        var after = await ctx.Checkpoints.ReadAsync(ctx.Log.Name, "$Default", 0);
        Assert.Equal(fencedByB.Position, after.Position);
        Assert.Equal("drainer-b", after.Owner);
        Assert.Equal(fencedByB.ETag, after.ETag);
        // The stalled drainer did not release the lease it no longer holds.
        Assert.Equal(fencedByB.Epoch, (await ctx.Leases.ReadAsync(ctx.Log.Name, "$Default", 0)).Epoch);
    }

    /// <summary>Tries to drain until the lease can be claimed (expiry is judged on the service's clock, in whole seconds).</summary>
    private static async Task<DrainResult> DrainOnceClaimableAsync(DrainEngine engine, TimeSpan limit)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var result = await engine.DrainAsync(0);
            if (result.End != DrainEnd.NotClaimed || watch.Elapsed > limit)
            {
                return result;
            }

            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task The_failure_detector_expires_a_dead_nodes_leases_and_another_drainer_resumes()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        await ctx.AppendSpansAsync(0, 0, 20);
        var health = new HealthOptions { SuspectAfter = TimeSpan.FromSeconds(1), DeadAfter = TimeSpan.FromSeconds(2) };
        var drain = DrainTestContext.Options("drainer-b");
        var sweep = new HealthSweep(ctx.Nodes, ctx.Leases, ctx.Log, drain, health);
        // Node A heartbeats once, takes the partition with a long lease, then goes silent.
        await ctx.Nodes.HeartbeatAsync(new NodeHeartbeat(NodeRoles.Runner, "drainer-a", "1", "host-a", DateTimeOffset.UtcNow));
        Assert.True((await ctx.Leases.TryClaimAsync(ctx.Log.Name, "$Default", 0, "drainer-a", TimeSpan.FromMinutes(5))).Claimed);
        var b = await ctx.EngineAsync(drain);
        Assert.Equal(DrainEnd.NotClaimed, (await b.DrainAsync(0)).End);

        // Ages come from the service's Date header (whole seconds): poll rather than sleep exactly.
        bool sawSuspect = false;
        HealthSweep.SweepResult swept;
        var watch = Stopwatch.StartNew();
        do
        {
            await Task.Delay(200);
            swept = await sweep.SweepAsync();
            sawSuspect |= (await ctx.Nodes.ListAsync()).Single().Status == NodeStatus.Suspect;
        }
        while (swept.Dead == 0 && watch.Elapsed < TimeSpan.FromSeconds(60));

        Assert.True(sawSuspect, "the node should have been suspect before dead");
        Assert.Equal(1, swept.Dead);
        Assert.Equal(1, swept.LeasesExpired);
        output.WriteLine($"dead after {watch.Elapsed.TotalSeconds:F1} s (DeadAfter {health.DeadAfter.TotalSeconds} s by the service's clock)");
        Assert.Equal(NodeStatus.Dead, (await ctx.Nodes.ListAsync()).Single().Status);

        var result = await b.DrainAsync(0);
        Assert.Equal(DrainEnd.Idle, result.End);
        Assert.Equal(Enumerable.Range(0, 20), ctx.Delivered().Order());
    }

    [Fact]
    public async Task Every_event_read_and_checkpointed_is_timed_from_its_receipt_in_the_queue_wait_and_end_to_end_histograms()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        using var metrics = new DrainMetrics();
        var recorded = new System.Collections.Concurrent.ConcurrentBag<(string Instrument, double Seconds)>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter == metrics.Meter)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((instrument, value, _, _) => recorded.Add((instrument.Name, value)));
        listener.Start();
        var engine = await ctx.EngineAsync(DrainTestContext.Options("timed"), metrics: metrics);
        await ctx.AppendSpansAsync(0, 0, 25);

        Assert.Equal(25, (await engine.DrainAsync(0)).Events);

        Assert.Equal(25, recorded.Count(r => r.Instrument == "otlp_drain_queue_wait"));
        Assert.Equal(25, recorded.Count(r => r.Instrument == "otlp_drain_end_to_end"));
        Assert.All(recorded, r => Assert.True(r.Seconds >= 0));
    }

    [Fact]
    public async Task A_node_judged_slow_claims_nothing_hands_back_what_it_drains_and_rejoins_when_it_recovers()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        var engine = await ctx.EngineAsync(DrainTestContext.Options("slowpoke")); // 10 events per read
        await ctx.AppendSpansAsync(0, 0, 30);
        bool slow = true;
        engine.StandingDown = () => slow;

        Assert.Equal(DrainEnd.NotClaimed, (await engine.DrainAsync(0)).End);
        Assert.True((await ctx.Leases.ReadAsync(ctx.Log.Name, "$Default", 0)).IsClaimable);

        // Judged slow while draining: the batch in hand is settled and checkpointed, then the partition is handed back.
        int asked = 0;
        engine.StandingDown = () => ++asked > 1; // fine at the claim, slow after the first batch
        var result = await engine.DrainAsync(0);
        Assert.Equal((DrainEnd.StoodDown, 10L), (result.End, result.Events));
        Assert.True(result.LagRemains);
        Assert.True((await ctx.Leases.ReadAsync(ctx.Log.Name, "$Default", 0)).IsClaimable);
        Assert.Equal(Enumerable.Range(0, 10), ctx.Delivered().Order());

        // Recovered: it claims again and resumes from the checkpoint, nothing repeated.
        slow = false;
        engine.StandingDown = () => slow;
        var resumed = await engine.DrainAsync(0);
        Assert.Equal((DrainEnd.Idle, 20L), (resumed.End, resumed.Events));
        Assert.Equal(Enumerable.Range(0, 30), ctx.Delivered().Order());
    }

    [Fact]
    public async Task A_second_job_for_a_partition_this_process_drains_does_not_take_the_lease_from_the_first()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        var engine = await ctx.EngineAsync(DrainTestContext.Options("one-process"));

        var first = engine.DrainAsync(0); // idles 300 ms before it ends
        var second = await engine.DrainAsync(0);
        var other = await engine.DrainAsync(1);

        Assert.Equal(DrainEnd.NotClaimed, second.End);
        Assert.Equal(DrainEnd.Idle, other.End);
        Assert.Equal(DrainEnd.Idle, (await first).End);
        // One claim of partition 0 in all: the first drain was never fenced out by its sibling.
        Assert.Equal(1L, (await ctx.Leases.ReadAsync(ctx.Log.Name, "$Default", 0)).Epoch);
        Assert.Equal(DrainEnd.Idle, (await engine.DrainAsync(0)).End); // and the partition is free again after it
    }

    [Fact]
    public async Task A_silent_Functions_instance_that_holds_nothing_is_removed_and_one_holding_a_lease_is_judged()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        var health = new HealthOptions { SuspectAfter = TimeSpan.FromSeconds(1), DeadAfter = TimeSpan.FromMinutes(5) };
        var sweep = new HealthSweep(ctx.Nodes, ctx.Leases, ctx.Log, DrainTestContext.Options("sweeper"), health);
        await ctx.Nodes.HeartbeatAsync(new NodeHeartbeat(NodeRoles.Functions, "fn-scaled-in", "1", "host-a", DateTimeOffset.UtcNow));
        await ctx.Nodes.HeartbeatAsync(new NodeHeartbeat(NodeRoles.Functions, "fn-stuck", "1", "host-b", DateTimeOffset.UtcNow));
        Assert.True((await ctx.Leases.TryClaimAsync(ctx.Log.Name, "$Default", 0, "fn-stuck", TimeSpan.FromMinutes(5))).Claimed);

        // Ages come from the service's Date header (whole seconds): poll rather than sleep exactly.
        int removed = 0;
        IReadOnlyList<NodeInfo> nodes;
        var watch = Stopwatch.StartNew();
        do
        {
            await Task.Delay(200);
            removed += (await sweep.SweepAsync()).Removed;
            nodes = await ctx.Nodes.ListAsync();
        }
        while ((removed == 0 || nodes.Any(n => n.Status != NodeStatus.Suspect)) && watch.Elapsed < TimeSpan.FromSeconds(60));

        Assert.Equal(1, removed);
        var node = Assert.Single(nodes);
        Assert.Equal(("fn-stuck", NodeStatus.Suspect), (node.Id, node.Status));
    }

    [Fact]
    public async Task The_failure_detector_also_expires_a_dead_nodes_replay_cursor_leases_and_only_those()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        var health = new HealthOptions { SuspectAfter = TimeSpan.FromSeconds(1), DeadAfter = TimeSpan.FromSeconds(2) };
        var sweep = new HealthSweep(ctx.Nodes, ctx.Leases, ctx.Log, DrainTestContext.Options("drainer-b"), health);
        string acme = ReplayCursor.GroupOf("acme"), globex = ReplayCursor.GroupOf("globex");
        await ctx.Nodes.HeartbeatAsync(new NodeHeartbeat(NodeRoles.Runner, "drainer-a", "1", "host-a", DateTimeOffset.UtcNow));
        Assert.True((await ctx.Leases.TryClaimAsync(ctx.Log.Name, "$Default", 0, "drainer-a", TimeSpan.FromMinutes(5))).Claimed);
        Assert.True((await ctx.Leases.TryClaimAsync(ctx.Log.Name, acme, 0, "drainer-a", TimeSpan.FromMinutes(5))).Claimed);
        Assert.True((await ctx.Leases.TryClaimAsync(ctx.Log.Name, globex, 1, "drainer-a", TimeSpan.FromMinutes(5))).Claimed);
        // Another, live node's cursor lease is left alone.
        Assert.True((await ctx.Leases.TryClaimAsync(ctx.Log.Name, globex, 0, "drainer-c", TimeSpan.FromMinutes(5))).Claimed);

        HealthSweep.SweepResult swept;
        var watch = Stopwatch.StartNew();
        do
        {
            await Task.Delay(200);
            await ctx.Nodes.HeartbeatAsync(new NodeHeartbeat(NodeRoles.Runner, "drainer-c", "1", "host-c", DateTimeOffset.UtcNow));
            swept = await sweep.SweepAsync();
        }
        while (swept.Dead == 0 && watch.Elapsed < TimeSpan.FromSeconds(60));

        Assert.Equal(1, swept.Dead);
        Assert.Equal(3, swept.LeasesExpired);
        Assert.True((await ctx.Leases.TryClaimAsync(ctx.Log.Name, acme, 0, "drainer-b", TimeSpan.FromSeconds(30))).Claimed);
        Assert.True((await ctx.Leases.TryClaimAsync(ctx.Log.Name, globex, 1, "drainer-b", TimeSpan.FromSeconds(30))).Claimed);
        var kept = await ctx.Leases.ReadAsync(ctx.Log.Name, globex, 0);
        Assert.Equal("drainer-c", kept.Owner);
        Assert.False(kept.IsExpired);
    }

    [Fact]
    public async Task Moving_a_checkpoint_back_redelivers_exactly_the_events_after_that_position()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        await ctx.AppendSpansAsync(0, 0, 25);
        var engine = await ctx.EngineAsync(DrainTestContext.Options("drainer-a"));
        Assert.Equal(25, (await engine.DrainAsync(0)).Events);
        var events = await ctx.ReadAllAsync(0);
        Assert.Equal(25, events.Count);

        var audit = await ctx.Checkpoints.ReplayAsync(ctx.Log.Name, "$Default", 0, events[17].Position.Value, "test");
        Assert.Equal(events[17].Position.Value, audit.To);
        Assert.Equal((await ctx.Log.GetEndAsync(0)).Value, audit.From);
        var replayed = await engine.DrainAsync(0);

        Assert.Equal(8, replayed.Events);
        var delivered = ctx.Delivered();
        Assert.Equal(Enumerable.Range(0, 25).Concat(Enumerable.Range(17, 8)), delivered);
        Assert.Equal("test", (await ctx.Checkpoints.ReadAsync(ctx.Log.Name, "$Default", 0)).LastReplay?.By);
    }

    [Fact]
    public async Task A_corrupt_record_is_dead_lettered_with_its_reason_and_the_partition_continues()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        await ctx.AppendSpansAsync(0, 0, 5);
        // Damage that no writer would produce: raw bytes between two good records.
        int segment = (await ctx.Log.ListSegmentsAsync(0)).Single();
        var blob = ctx.LogContainer.GetAppendBlobClient($"{ctx.LogOptions.Name}/p00000/{segment:D10}");
        var garbage = Enumerable.Repeat((byte)0xEE, 100).ToArray();
        await blob.AppendBlockAsync(new MemoryStream(garbage));
        await ctx.AppendSpansAsync(0, 5, 5);
        var engine = await ctx.EngineAsync(DrainTestContext.Options("drainer-a"));

        var result = await engine.DrainAsync(0);

        Assert.Equal(DrainEnd.Idle, result.End);
        Assert.Equal(1, result.DeadLettered);
        Assert.Equal(Enumerable.Range(0, 10), ctx.Delivered().Order());
        var letter = Assert.Single(await ctx.DeadLetters.ListAsync());
        Assert.Equal("_unknown", letter.Tenant);
        Assert.False(string.IsNullOrWhiteSpace(letter.Reason));
        Assert.Equal(garbage.Length, letter.Bytes);
        Assert.Equal((await ctx.Log.GetEndAsync(0)).Value, (await ctx.Checkpoints.ReadAsync(ctx.Log.Name, "$Default", 0)).Position);
    }

    [Fact]
    public async Task An_undecodable_body_is_dead_lettered_for_its_tenant_while_good_events_are_delivered()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        await ctx.AppendSpansAsync(0, 0, 3);
        await ctx.Log.AppendAsync(0, [DrainTestContext.Event([0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x01])]);
        await ctx.AppendSpansAsync(0, 3, 3);
        var engine = await ctx.EngineAsync(DrainTestContext.Options("drainer-a"));

        var result = await engine.DrainAsync(0);

        Assert.Equal(DrainEnd.Idle, result.End);
        Assert.Equal(7, result.Events);
        Assert.Equal(1, result.DeadLettered);
        Assert.Equal(Enumerable.Range(0, 6), ctx.Delivered().Order());
        var letter = Assert.Single(await ctx.DeadLetters.ListAsync(DrainTestContext.Tenant));
        Assert.Contains("undecodable", letter.Reason, StringComparison.Ordinal);
        Assert.Equal("traces", letter.Signal);
    }
}
