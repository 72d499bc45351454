using System.Collections.Concurrent;
using Microsoft.Extensions.Logging.Abstractions;
using ServerlessOtlp.Export;
using ServerlessOtlp.Processing.Stages;
using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Tests.Processing.Stages;

public class PartitionStateCoordinatorTests
{
    /// <summary>An exporter with per-partition state: a counter whose snapshot is its value.</summary>
    private sealed class CountingStateExporter : IDestinationExporter, IPartitionStateExporter
    {
        public ConcurrentDictionary<int, long> Totals { get; } = new();

        public List<(int Partition, string? Snapshot)> Restored { get; } = [];

        public string Kind => "counter";

        public Task<ExportOutcome> ExportAsync(ExportRequest request, CancellationToken cancellationToken = default) => Task.FromResult(ExportOutcome.Ok);

        public long StateVersion(int partition) => Totals.GetValueOrDefault(partition);

        public string? SnapshotState(int partition) => Totals.TryGetValue(partition, out long total) ? total.ToString() : null;

        public void RestoreState(int partition, string? snapshot)
        {
            Restored.Add((partition, snapshot));
            Totals[partition] = snapshot == null ? 0 : long.Parse(snapshot);
        }
    }

    /// <summary>Snapshots in memory, referenced as the blob store would.</summary>
    private sealed class MemoryStateStore : PartitionStateStore
    {
        public ConcurrentDictionary<string, BinaryData> Blobs { get; } = new();

        public List<string> Deleted { get; } = [];

        public override Task<string> WriteAsync(FencedCheckpoint checkpoint, BinaryData snapshot, CancellationToken cancellationToken = default)
        {
            string reference = Reference($"{checkpoint.Partition}/{Blobs.Count}.json");
            Blobs[reference] = snapshot;
            return Task.FromResult(reference);
        }

        public override Task<BinaryData?> ReadAsync(string? checkpointState, CancellationToken cancellationToken = default) =>
            Task.FromResult(checkpointState != null && Blobs.TryGetValue(checkpointState, out var data) ? data : null);

        public override Task<int> DeleteOthersAsync(FencedCheckpoint checkpoint, string? keep, CancellationToken cancellationToken = default) => Task.FromResult(0);

        public override Task DeleteAsync(string checkpointState, CancellationToken cancellationToken = default)
        {
            Deleted.Add(checkpointState);
            Blobs.TryRemove(checkpointState, out _);
            return Task.CompletedTask;
        }
    }

    private static FencedCheckpoint Live(string? state) => new("log", "$Default", 0, "me", 1, 0, state, default);

    private static (PartitionStateCoordinator Coordinator, CountingStateExporter Exporter, MemoryStateStore Store) Create()
    {
        var exporter = new CountingStateExporter();
        var store = new MemoryStateStore();
        return (new PartitionStateCoordinator([(exporter.Kind, exporter)], store, NullLogger.Instance), exporter, store);
    }

    [Fact]
    public async Task Nothing_is_saved_while_the_state_is_unchanged()
    {
        var (coordinator, exporter, store) = Create();
        await coordinator.RestoreStateAsync(Live(null));

        Assert.Null(await coordinator.SaveStateAsync(Live(null)));
        Assert.Empty(store.Blobs);

        exporter.Totals[0] = 5;
        string? saved = await coordinator.SaveStateAsync(Live(null));
        Assert.NotNull(saved);
        Assert.Equal("{\"counter\":\"5\"}", store.Blobs[saved!].ToString());

        Assert.Null(await coordinator.SaveStateAsync(Live(saved)));
        Assert.Single(store.Blobs);
    }

    [Fact]
    public async Task A_claim_restores_the_snapshot_its_checkpoint_references_and_the_next_save_drops_the_superseded_one()
    {
        var (first, exporter, store) = Create();
        await first.RestoreStateAsync(Live(null));
        exporter.Totals[0] = 5;
        string saved = (await first.SaveStateAsync(Live(null)))!;

        // Another owner's process claims the partition at that checkpoint.
        var next = new CountingStateExporter();
        var coordinator = new PartitionStateCoordinator([(next.Kind, next)], store, NullLogger.Instance);
        await coordinator.RestoreStateAsync(Live(saved));
        Assert.Equal([(0, (string?)"5")], next.Restored);
        Assert.Null(await coordinator.SaveStateAsync(Live(saved))); // restored is saved

        next.Totals[0] = 8;
        string second = (await coordinator.SaveStateAsync(Live(saved)))!;
        next.Totals[0] = 9;
        await coordinator.SaveStateAsync(Live(second));
        Assert.Equal([saved], store.Deleted);
    }

    [Fact]
    public async Task A_replay_cursor_neither_restores_nor_saves_the_partition_state()
    {
        var (coordinator, exporter, store) = Create();
        exporter.Totals[0] = 5;
        var cursor = new FencedCheckpoint("log", ReplayCursor.GroupPrefix + "acme", 0, "me", 1, 0, null, default);

        await coordinator.RestoreStateAsync(cursor);
        exporter.Totals[0] = 8;

        Assert.Empty(exporter.Restored);
        Assert.Null(await coordinator.SaveStateAsync(cursor));
        Assert.Empty(store.Blobs);
        Assert.Equal(8, exporter.Totals[0]);
    }

    [Fact]
    public async Task A_snapshot_that_is_gone_starts_the_series_over()
    {
        var (coordinator, exporter, _) = Create();
        exporter.Totals[0] = 5;

        await coordinator.RestoreStateAsync(Live(PartitionStateStore.Reference("0/gone.json")));

        Assert.Equal([(0, (string?)null)], exporter.Restored);
        Assert.Equal(0, exporter.Totals[0]);
    }
}
