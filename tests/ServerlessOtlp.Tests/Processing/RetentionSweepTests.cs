using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Microsoft.Extensions.Time.Testing;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tests.Infrastructure;
using ServerlessOtlp.Tests.Storage;

namespace ServerlessOtlp.Tests.Processing;

/// <summary>The Retention timer through the log's retention capability, on a fake clock.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class RetentionSweepTests(AzuriteFixture azurite)
{
    private const string Group = "$Default";
    private static readonly TimeSpan Retention = TimeSpan.FromHours(1);

    [Fact]
    public async Task Deletes_only_sealed_segments_older_than_the_retention_before_the_checkpoint_and_every_active_cursor()
    {
        var container = new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient("log-" + Guid.NewGuid().ToString("N"));
        var log = new BlobLog(container, new BlobLogOptions { Name = "otlp", Partitions = 2, SegmentMaxBytes = 8 * 1024 });
        await log.OpenAsync();
        for (int i = 0; i < 30; i++)
        {
            await log.AppendAsync(0, [Event(i)]);
            await log.AppendAsync(1, [Event(i)]);
        }

        var checkpoints = new CheckpointStore(TableTestContext.Service(azurite.ConnectionString), TableTestContext.UniqueTableName());
        await checkpoints.EnsureCreatedAsync();
        var before0 = await log.ListSegmentsAsync(0);
        var before1 = await log.ListSegmentsAsync(1);
        Assert.True(before0.Count >= 3 && before1.Count >= 3, "the events should span several segments");

        // Partition 0: the checkpoint is past every segment, and a finished cursor holds nothing back.
        await checkpoints.ReplayAsync(log.Name, Group, 0, BlobLog.Pack(before0[^1] + 1, 0).Value, "test");
        await checkpoints.StartCursorAsync(log.Name, "acme", 0, BlobLog.Pack(before0[0], 0).Value, BlobLog.Pack(before0[0], 0).Value, "test");
        // Partition 1: the checkpoint is at the end, but a tenant replay still reads from the second segment.
        await checkpoints.ReplayAsync(log.Name, Group, 1, (await log.GetEndAsync(1)).Value, "test");
        await checkpoints.StartCursorAsync(log.Name, "globex", 1, BlobLog.Pack(before1[1], 0).Value, (await log.GetEndAsync(1)).Value, "test");

        // The segments' ages come from the storage service's clock, so the fake one starts at the real now.
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var sweep = new RetentionSweep(log, checkpoints, new DrainOptions { ConsumerGroup = Group }, Retention, clock);
        Assert.Equal(0, await sweep.SweepAsync());
        Assert.Equal(before0, await log.ListSegmentsAsync(0));
        Assert.Equal(before1, await log.ListSegmentsAsync(1));

        clock.Advance(2 * Retention);
        int deleted = await sweep.SweepAsync();

        // Every sealed segment of partition 0 goes; the last one, still open for appends, stays.
        Assert.Equal([before0[^1]], await log.ListSegmentsAsync(0));
        Assert.Equal(before1.Skip(1), await log.ListSegmentsAsync(1));
        Assert.Equal(before0.Count, deleted); // all but the open one of partition 0, and the first of partition 1
    }

    [Fact]
    public async Task A_log_without_retention_sweeps_nothing_and_reads_no_checkpoints()
    {
        var log = new MemoryLog(2);
        await log.AppendAsync(0, [Event(0)]);
        var sweep = new RetentionSweep(log, new UntouchableCheckpoints(), new DrainOptions(), Retention, new FakeTimeProvider(DateTimeOffset.UtcNow + (100 * Retention)));

        Assert.Null(log.Retention);
        Assert.Equal(0, await sweep.SweepAsync());
        Assert.Single(log.Snapshot(0));
    }

    private static LogEvent Event(int sequence) =>
        new(new EventProperties("acme", Signal.Traces, BodyCodec.Protobuf, 1, DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000 + sequence), "gw-1"), new byte[1024]);

    /// <summary>A checkpoint store that fails any listing: a sweep of a log without retention has no business there.</summary>
    private sealed class UntouchableCheckpoints() : CheckpointStore(new TableServiceClient("UseDevelopmentStorage=true"))
    {
        public override Task<IReadOnlyList<Checkpoint>> ListAsync(string log, string group, CancellationToken cancellationToken = default) =>
            throw new InvalidOperationException("listed checkpoints");

        public override Task<IReadOnlyList<ReplayCursor>> ListCursorsAsync(string log, CancellationToken cancellationToken = default) =>
            throw new InvalidOperationException("listed cursors");
    }
}
