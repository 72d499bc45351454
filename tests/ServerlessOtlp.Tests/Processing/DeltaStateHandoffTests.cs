using Google.Protobuf;
using ServerlessOtlp.Export;
using ServerlessOtlp.Export.PrometheusRemoteWrite;
using ServerlessOtlp.Export.PrometheusRemoteWrite.Prompb;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Export;
using ServerlessOtlp.Tests.Infrastructure;
using Snappier;

namespace ServerlessOtlp.Tests.Processing;

/// <summary>
/// Delta → cumulative state travels with the partition: saved beside the checkpoint, restored by
/// the next owner (a separate exporter instance, as another process would have), and re-delivered
/// deltas (a replay) are not counted twice.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class DeltaStateHandoffTests(AzuriteFixture azurite)
{
    private const ulong Second = 1_000_000_000;

    [Fact]
    public async Task A_new_owner_continues_the_cumulative_series_and_a_replay_does_not_double_count()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        await using var receiver = await CapturingHttpReceiver.StartAsync();
        var tenants = PromTenant(receiver.Uri);
        var container = ctx.Blobs.GetBlobContainerClient("st" + Guid.NewGuid().ToString("N")[..12]);
        var states = new PartitionStateStore(container);
        await states.EnsureCreatedAsync();
        ulong t0 = TestMetrics.NowNs() - (60 * Second);

        // Drain A counts 5 + 3.
        await AppendDeltaAsync(ctx, (5, t0), (3, t0 + Second));
        var a = await ctx.EngineAsync(DrainTestContext.Options("drainer-a"), Processor(ctx, tenants, states));
        Assert.Equal(DrainEnd.Idle, (await a.DrainAsync(0)).End);
        Assert.Equal([5, 8], Hits(receiver));
        var checkpoint = await ctx.Checkpoints.ReadAsync(ctx.Log.Name, "$Default", 0);
        Assert.StartsWith(PartitionStateStore.ReferencePrefix, checkpoint.State, StringComparison.Ordinal);

        // Drain B, another process (its own exporter, empty memory), claims and continues: 8 + 2, not 2.
        await AppendDeltaAsync(ctx, (2, t0 + (2 * Second)));
        var b = await ctx.EngineAsync(DrainTestContext.Options("drainer-b"), Processor(ctx, tenants, states));
        Assert.Equal(DrainEnd.Idle, (await b.DrainAsync(0)).End);
        Assert.Equal([5, 8, 10], Hits(receiver));

        // An operator replays the partition from the start: the three deltas come again and are skipped.
        await ctx.Checkpoints.ReplayAsync(ctx.Log.Name, "$Default", 0, Checkpoint.StartOfLog, "test");
        await AppendDeltaAsync(ctx, (1, t0 + (3 * Second)));
        var c = await ctx.EngineAsync(DrainTestContext.Options("drainer-c"), Processor(ctx, tenants, states));
        var replayed = await c.DrainAsync(0);
        Assert.Equal(4, replayed.Events);
        Assert.Equal([5, 8, 10, 11], Hits(receiver));

        // Superseded snapshots are cleaned up by the next claim: the one the checkpoint references remains.
        await (await ctx.EngineAsync(DrainTestContext.Options("drainer-d"), Processor(ctx, tenants, states))).DrainAsync(0);
        var left = new List<string>();
        await foreach (var blob in container.GetBlobsAsync(Azure.Storage.Blobs.Models.BlobTraits.None, Azure.Storage.Blobs.Models.BlobStates.None, null, default))
        {
            left.Add(blob.Name);
        }

        checkpoint = await ctx.Checkpoints.ReadAsync(ctx.Log.Name, "$Default", 0);
        Assert.Equal([PartitionStateStore.BlobName(checkpoint.State)!], left);
    }

    [Fact]
    public async Task A_crash_between_export_and_checkpoint_neither_resets_nor_double_counts()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        await using var receiver = await CapturingHttpReceiver.StartAsync();
        var tenants = PromTenant(receiver.Uri);
        var states = new PartitionStateStore(ctx.Blobs.GetBlobContainerClient("st" + Guid.NewGuid().ToString("N")[..12]));
        await states.EnsureCreatedAsync();
        ulong t0 = TestMetrics.NowNs() - (60 * Second);
        await AppendDeltaAsync(ctx, (5, t0));

        // A checkpoints the first delta, then exports the second (8 sent) and dies before its checkpoint lands.
        var processorA = Processor(ctx, tenants, states);
        var a = await ctx.EngineAsync(DrainTestContext.Options("drainer-a"), processorA);
        await a.DrainAsync(0);
        await AppendDeltaAsync(ctx, (3, t0 + Second));
        var log = ctx.NewLog();
        await log.OpenAsync();
        var crashing = new DrainEngine(log, new CheckpointsThatFailAfterExport(ctx.Checkpoints), ctx.Leases, processorA, ctx.DeadLetters, DrainTestContext.Options("drainer-a"));
        await Assert.ThrowsAsync<IOException>(() => crashing.DrainAsync(0));
        Assert.Equal([5, 8], Hits(receiver));

        // B resumes from the checkpoint after the first delta: the second is re-sent as 8 (not 11), the third continues.
        await AppendDeltaAsync(ctx, (2, t0 + (2 * Second)));
        var b = await ctx.EngineAsync(DrainTestContext.Options("drainer-b"), Processor(ctx, tenants, states));
        await b.DrainAsync(0);
        Assert.Equal([5, 8, 8, 10], Hits(receiver));
    }

    [Fact]
    public async Task A_tenant_replay_cursor_leaves_the_live_delta_totals_alone()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        await using var receiver = await CapturingHttpReceiver.StartAsync();
        var tenants = PromTenant(receiver.Uri);
        var states = new PartitionStateStore(ctx.Blobs.GetBlobContainerClient("st" + Guid.NewGuid().ToString("N")[..12]));
        await states.EnsureCreatedAsync();
        ulong t0 = TestMetrics.NowNs() - (60 * Second);
        await AppendDeltaAsync(ctx, (5, t0));
        var processor = Processor(ctx, tenants, states);
        await (await ctx.EngineAsync(DrainTestContext.Options("drainer-a"), processor)).DrainAsync(0);

        // A cursor drain of the same partition in this process (its own group, no saved state) claims and checkpoints.
        var cursor = new FencedCheckpoint(ctx.Log.Name, ReplayCursor.GroupPrefix + DrainTestContext.Tenant, 0, "cursor", 1, Checkpoint.StartOfLog, null, default);
        await processor.Hooks.State!.RestoreStateAsync(cursor);
        Assert.Null(await processor.Hooks.State!.SaveStateAsync(cursor));

        // The live series continues from its total: 5 + 3, not 3.
        var body = TestMetrics.Request(TestMetrics.Sum("hits", "", 3, t0 + Second, monotonic: true, delta: true)).ToByteArray();
        var props = new EventProperties(DrainTestContext.Tenant, Signal.Metrics, BodyCodec.Protobuf, 1, DateTimeOffset.UtcNow, "test-gateway");
        Assert.Equal(EventFate.Delivered, await processor.ProcessAsync(0, new ReadEvent(new LogPosition(100), new LogPosition(101), props, body)));
        Assert.Equal([5, 8], Hits(receiver));
    }

    /// <summary>A fresh exporter per call: what another process would have.</summary>
    private static TenantEventProcessor Processor(DrainTestContext ctx, InMemoryTenantDirectory tenants, PartitionStateStore states) =>
        new(tenants, new ResilientExporter([new PrometheusRemoteWriteExporter(ServerlessOtlp.Tests.Export.TestEgress.LoopbackServices)]), ctx.DeadLetters, null, partitionState: states);

    private static InMemoryTenantDirectory PromTenant(Uri receiver) => new(new TenantFile
    {
        Tenants =
        [
            new TenantConfig
            {
                Id = DrainTestContext.Tenant,
                Destinations = [new DestinationConfig { Name = "prom", Kind = RemoteWriteDestination.KindName, Signals = [Signal.Metrics], Endpoint = new Uri(receiver, "/api/v1/write").ToString() }],
            },
        ],
    });

    private static async Task AppendDeltaAsync(DrainTestContext ctx, params (long Value, ulong Time)[] deltas)
    {
        var events = deltas.Select(d => new LogEvent(
            new EventProperties(DrainTestContext.Tenant, Signal.Metrics, BodyCodec.Protobuf, 1, DateTimeOffset.UtcNow, "test-gateway"),
            TestMetrics.Request(TestMetrics.Sum("hits", "", d.Value, d.Time, monotonic: true, delta: true)).ToByteArray())).ToList();
        await ctx.Log.AppendAsync(0, events);
    }

    /// <summary>The values of <c>hits_total</c> the receiver got, in order.</summary>
    private static List<double> Hits(CapturingHttpReceiver receiver) =>
        receiver.Requests
            .Select(r => WriteRequest.Parser.ParseFrom(Snappy.DecompressToArray(r.Body)))
            .SelectMany(w => w.Timeseries)
            .Where(t => t.Labels.Any(l => l.Name == "__name__" && l.Value == "hits_total"))
            .SelectMany(t => t.Samples.Select(s => s.Value))
            .ToList();

    /// <summary>Every checkpoint write fails, after the export and the processor's state save: a crash at the worst moment.</summary>
    private sealed class CheckpointsThatFailAfterExport(CheckpointStore inner) : CheckpointStore
    {
        public override Task<FencedCheckpoint> FenceAsync(string log, string group, int partition, string owner, long epoch, CancellationToken cancellationToken = default) =>
            inner.FenceAsync(log, group, partition, owner, epoch, cancellationToken);

        public override Task UpdateAsync(FencedCheckpoint handle, long position, string? state, CancellationToken cancellationToken = default) =>
            throw new IOException("storage went away before the checkpoint landed");
    }
}
