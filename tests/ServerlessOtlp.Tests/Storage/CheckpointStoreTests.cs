using ServerlessOtlp.Storage;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Storage;

[Collection(AzuriteCollection.Name)]
public sealed class CheckpointStoreTests
{
    private const string Log = "traces";
    private const string Group = "$Default";

    private readonly AzuriteFixture _fixture;

    public CheckpointStoreTests(AzuriteFixture fixture)
    {
        _fixture = fixture;
    }

    private async Task<CheckpointStore> NewStoreAsync(LostResponsePolicy? lostResponse = null)
    {
        var store = new CheckpointStore(TableTestContext.Service(_fixture.ConnectionString, lostResponse), TableTestContext.UniqueTableName());
        await store.EnsureCreatedAsync();
        return store;
    }

    [Fact]
    public async Task Missing_row_reads_as_start_of_log()
    {
        var store = await NewStoreAsync();

        var cp = await store.ReadAsync(Log, Group, 3);

        Assert.Equal(new Checkpoint(3, -1, null, 0, null, null, null, default), cp);
        Assert.Null(cp.LastReplay);
    }

    [Fact]
    public async Task Fence_creates_the_row_and_updates_move_it_forward()
    {
        var store = await NewStoreAsync();

        var handle = await store.FenceAsync(Log, Group, 7, "runner-a", 1);
        Assert.Equal(-1, handle.Position);
        await store.UpdateAsync(handle, 10, "{\"series\":1}");
        await store.UpdateAsync(handle, 25, null);

        var cp = await store.ReadAsync(Log, Group, 7);
        Assert.Equal(25, cp.Position);
        Assert.Equal("runner-a", cp.Owner);
        Assert.Equal(1, cp.Epoch);
        Assert.Equal("runner-a", cp.UpdatedBy);
        Assert.NotNull(cp.UpdatedAt);
        Assert.Equal("{\"series\":1}", cp.State); // null state leaves the stored one
        Assert.Equal(cp.ETag, handle.ETag);
        Assert.Equal(25, handle.Position);
    }

    [Fact]
    public async Task Update_never_moves_backward()
    {
        var store = await NewStoreAsync();
        var handle = await store.FenceAsync(Log, Group, 0, "runner-a", 1);
        await store.UpdateAsync(handle, 100, null);

        await Assert.ThrowsAsync<ArgumentException>(() => store.UpdateAsync(handle, 99, null));
        await store.UpdateAsync(handle, 100, null); // standing still is allowed

        Assert.Equal(100, (await store.ReadAsync(Log, Group, 0)).Position);
    }

    [Fact]
    public async Task State_longer_than_a_table_string_is_refused()
    {
        var store = await NewStoreAsync();
        var handle = await store.FenceAsync(Log, Group, 0, "runner-a", 1);

        await Assert.ThrowsAsync<ArgumentException>(() => store.UpdateAsync(handle, 1, new string('x', CheckpointStore.MaxStateChars + 1)));
        await store.UpdateAsync(handle, 1, new string('x', CheckpointStore.MaxStateChars));

        Assert.Equal(CheckpointStore.MaxStateChars, (await store.ReadAsync(Log, Group, 0)).State!.Length);
    }

    [Fact]
    public async Task Update_after_another_owner_fenced_throws_LeaseLost()
    {
        var store = await NewStoreAsync();
        var stalled = await store.FenceAsync(Log, Group, 1, "runner-a", 1);
        await store.UpdateAsync(stalled, 5, null);

        var successor = await store.FenceAsync(Log, Group, 1, "runner-b", 2);
        Assert.Equal(5, successor.Position);

        await Assert.ThrowsAsync<LeaseLostException>(() => store.UpdateAsync(stalled, 50, null));
        await store.UpdateAsync(successor, 6, null);

        var cp = await store.ReadAsync(Log, Group, 1);
        Assert.Equal((6L, "runner-b", 2L), (cp.Position, cp.Owner, cp.Epoch));
    }

    [Fact]
    public async Task Fence_with_an_older_epoch_throws_LeaseLost_and_same_epoch_is_idempotent()
    {
        var store = await NewStoreAsync();
        var first = await store.FenceAsync(Log, Group, 2, "runner-b", 5);
        await store.UpdateAsync(first, 8, "s");

        await Assert.ThrowsAsync<LeaseLostException>(() => store.FenceAsync(Log, Group, 2, "runner-a", 4));
        await Assert.ThrowsAsync<LeaseLostException>(() => store.FenceAsync(Log, Group, 2, "runner-a", 5));

        var again = await store.FenceAsync(Log, Group, 2, "runner-b", 5);
        Assert.Equal((8L, "s"), (again.Position, again.State));
        await store.UpdateAsync(again, 9, null);
    }

    [Fact]
    public async Task Concurrent_fences_leave_only_the_newest_epoch_able_to_write()
    {
        var store = await NewStoreAsync();
        const int Owners = 8;

        var fences = await Task.WhenAll(Enumerable.Range(1, Owners).Select(async epoch =>
        {
            try
            {
                return await store.FenceAsync(Log, Group, 4, $"runner-{epoch}", epoch);
            }
            catch (LeaseLostException)
            {
                return null; // a newer epoch was there first
            }
        }));

        Assert.NotNull(fences[Owners - 1]);
        var outcomes = new List<(long Epoch, bool Wrote)>();
        foreach (var handle in fences.OfType<FencedCheckpoint>())
        {
            try
            {
                await store.UpdateAsync(handle, 10 + handle.Epoch, null);
                outcomes.Add((handle.Epoch, true));
            }
            catch (LeaseLostException)
            {
                outcomes.Add((handle.Epoch, false));
            }
        }

        Assert.Equal(new[] { (long)Owners }, outcomes.Where(o => o.Wrote).Select(o => o.Epoch));
        var cp = await store.ReadAsync(Log, Group, 4);
        Assert.Equal((10L + Owners, $"runner-{Owners}", (long)Owners), (cp.Position, cp.Owner, cp.Epoch));
    }

    [Fact]
    public async Task Replay_moves_back_with_an_audit_and_the_active_drainer_loses_the_partition()
    {
        var store = await NewStoreAsync();
        var drainer = await store.FenceAsync(Log, Group, 0, "runner-a", 3);
        await store.UpdateAsync(drainer, 500, "state");

        var audit = await store.ReplayAsync(Log, Group, 0, 120, "admin:alice");

        Assert.Equal(("admin:alice", 500L, 120L, 1L), (audit.By, audit.From, audit.To, audit.Count));
        var cp = await store.ReadAsync(Log, Group, 0);
        Assert.Equal(120, cp.Position);
        Assert.Equal(("runner-a", 3L), (cp.Owner, cp.Epoch)); // owner and epoch untouched
        Assert.Equal("state", cp.State);
        Assert.Equal(audit, cp.LastReplay);

        // The drainer that was active can neither undo the replay nor go on from where it was.
        await Assert.ThrowsAsync<LeaseLostException>(() => store.UpdateAsync(drainer, 501, null));

        var next = await store.FenceAsync(Log, Group, 0, "runner-b", 4);
        Assert.Equal(120, next.Position);
        await store.UpdateAsync(next, 130, null);

        var second = await store.ReplayAsync(Log, Group, 0, -1, "admin:bob");
        Assert.Equal((130L, -1L, 2L), (second.From, second.To, second.Count));
        Assert.Equal(-1, (await store.ReadAsync(Log, Group, 0)).Position);
    }

    [Fact]
    public async Task Replay_of_a_partition_without_a_checkpoint_creates_it()
    {
        var store = await NewStoreAsync();

        var audit = await store.ReplayAsync(Log, Group, 9, 42, "admin");

        Assert.Equal((-1L, 42L), (audit.From, audit.To));
        Assert.Equal(42, (await store.ReadAsync(Log, Group, 9)).Position);
    }

    [Fact]
    public async Task List_returns_the_partitions_of_one_log_and_group_in_order()
    {
        var store = await NewStoreAsync();
        foreach (int p in new[] { 11, 2, 0 })
        {
            var h = await store.FenceAsync(Log, Group, p, "runner-a", 1);
            await store.UpdateAsync(h, p * 10, null);
        }

        await store.FenceAsync(Log, "other", 5, "runner-a", 1);
        await store.FenceAsync("metrics", Group, 6, "runner-a", 1);

        var list = await store.ListAsync(Log, Group);

        Assert.Equal(new[] { (0, 0L), (2, 20L), (11, 110L) }, list.Select(c => (c.Partition, c.Position)));
    }

    [Fact]
    public async Task A_retried_update_that_answers_412_after_its_first_try_landed_succeeds()
    {
        var lost = new LostResponsePolicy();
        var store = await NewStoreAsync(lost);
        var handle = await store.FenceAsync(Log, Group, 0, "runner-a", 1);

        lost.Arm();
        await store.UpdateAsync(handle, 77, "s1");

        Assert.Equal(1, lost.Fired);
        var cp = await store.ReadAsync(Log, Group, 0);
        Assert.Equal((77L, "s1"), (cp.Position, cp.State));
        Assert.Equal(cp.ETag, handle.ETag);
        await store.UpdateAsync(handle, 78, null); // the handle's ETag is current again
    }

    [Fact]
    public async Task Keys_with_characters_a_table_cannot_hold_are_refused()
    {
        var store = await NewStoreAsync();

        await Assert.ThrowsAsync<ArgumentException>(() => store.ReadAsync("a/b", Group, 0));
        await Assert.ThrowsAsync<ArgumentException>(() => store.ReadAsync(Log, "g|h", 0));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.ReadAsync(Log, Group, -1));
    }
}
