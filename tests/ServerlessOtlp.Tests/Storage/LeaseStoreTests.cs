using System.Diagnostics;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Storage;

[Collection(AzuriteCollection.Name)]
public sealed class LeaseStoreTests
{
    private const string Log = "traces";
    private const string Group = "$Default";
    private static readonly TimeSpan LongTtl = TimeSpan.FromMinutes(5);

    private readonly AzuriteFixture _fixture;

    public LeaseStoreTests(AzuriteFixture fixture)
    {
        _fixture = fixture;
    }

    private async Task<LeaseStore> NewStoreAsync(LostResponsePolicy? lostResponse = null, string? table = null)
    {
        var store = new LeaseStore(TableTestContext.Service(_fixture.ConnectionString, lostResponse), table ?? TableTestContext.UniqueTableName());
        await store.EnsureCreatedAsync();
        return store;
    }

    [Fact]
    public async Task A_free_lease_is_claimed_and_a_live_one_of_another_owner_is_not()
    {
        var store = await NewStoreAsync();

        var a = await store.TryClaimAsync(Log, Group, 0, "runner-a", LongTtl);
        var b = await store.TryClaimAsync(Log, Group, 0, "runner-b", LongTtl);

        Assert.True(a.Claimed);
        Assert.Equal(("runner-a", 1L), (a.Lease!.Owner, a.Lease.Epoch));
        Assert.True(a.Lease.ExpiresAt > a.Lease.RenewedAt);
        Assert.False(b.Claimed);
        Assert.Null(b.Lease);
        Assert.Equal(("runner-a", 1L, false), (b.Current.Owner, b.Current.Epoch, b.Current.IsExpired));
        Assert.False(b.Current.IsClaimable);

        var listed = Assert.Single(await store.ListAsync(Log, Group));
        Assert.Equal((0, "runner-a", 1L, false, LongTtl), (listed.Partition, listed.Owner, listed.Epoch, listed.IsExpired, listed.Ttl));
        Assert.Equal(listed.RenewedAt + LongTtl, listed.ExpiresAt);
    }

    [Fact]
    public async Task A_release_after_a_renewal_whose_answer_never_arrived_still_frees_the_lease()
    {
        var store = await NewStoreAsync();
        var claim = await store.TryClaimAsync(Log, Group, 0, "runner-a", LongTtl);
        var lease = claim.Lease!;
        // What the drain holds when its renewal loop was cancelled while a renewal was in flight: the row
        // was renewed (new ETag), the lease object never heard of it.
        var stale = new Lease(lease.Log, lease.Group, lease.Partition, lease.Owner, lease.Epoch, lease.Ttl, lease.RenewedAt, lease.ETag);
        Assert.True(await store.RenewAsync(lease));

        Assert.True(await store.ReleaseAsync(stale));
        var row = await store.ReadAsync(Log, Group, 0);
        Assert.True(row.IsClaimable);
        Assert.Null(row.Owner);

        // But never a lease claimed again since (a new epoch): that one is not ours to release.
        var again = (await store.TryClaimAsync(Log, Group, 0, "runner-b", LongTtl)).Lease!;
        Assert.False(await store.ReleaseAsync(stale));
        Assert.Equal(("runner-b", again.Epoch), ((await store.ReadAsync(Log, Group, 0)).Owner, (await store.ReadAsync(Log, Group, 0)).Epoch));
    }

    [Fact]
    public async Task The_same_owner_reclaims_its_live_lease_with_a_new_epoch()
    {
        var store = await NewStoreAsync();
        var first = await store.TryClaimAsync(Log, Group, 1, "runner-a", LongTtl);

        var again = await store.TryClaimAsync(Log, Group, 1, "runner-a", LongTtl);

        Assert.True(again.Claimed);
        Assert.Equal(first.Lease!.Epoch + 1, again.Lease!.Epoch);
        Assert.False(await store.RenewAsync(first.Lease)); // the older incarnation is fenced out
        Assert.True(await store.RenewAsync(again.Lease));
    }

    [Fact]
    public async Task Concurrent_claimers_exactly_one_wins_each_round()
    {
        var store = await NewStoreAsync();
        const int Claimers = 10;
        const int Rounds = 6;

        for (int round = 1; round <= Rounds; round++)
        {
            using var start = new ManualResetEventSlim();
            var claims = Enumerable.Range(0, Claimers)
                .Select(i => Task.Run(() =>
                {
                    start.Wait();
                    return store.TryClaimAsync(Log, Group, 3, $"runner-{i}", LongTtl);
                }))
                .ToArray();
            start.Set();
            var results = await Task.WhenAll(claims);

            var winner = Assert.Single(results, r => r.Claimed);
            Assert.Equal(round, winner.Lease!.Epoch);
            Assert.All(results.Where(r => !r.Claimed), r => Assert.Null(r.Lease));
            Assert.Equal(winner.Lease.Owner, (await store.ReadAsync(Log, Group, 3)).Owner);
            Assert.True(await store.ReleaseAsync(winner.Lease));
        }
    }

    [Fact]
    public async Task Release_frees_the_lease_and_keeps_the_epoch()
    {
        var store = await NewStoreAsync();
        var a = (await store.TryClaimAsync(Log, Group, 0, "runner-a", LongTtl)).Lease!;

        Assert.True(await store.ReleaseAsync(a));
        var info = await store.ReadAsync(Log, Group, 0);
        Assert.Equal((null, 1L, true), (info.Owner, info.Epoch, info.IsClaimable));
        Assert.True(await store.ReleaseAsync(a)); // releasing again is idempotent
        Assert.False(await store.RenewAsync(a));

        var b = await store.TryClaimAsync(Log, Group, 0, "runner-b", LongTtl);
        Assert.True(b.Claimed);
        Assert.Equal(2, b.Lease!.Epoch);
        Assert.False(await store.ReleaseAsync(a)); // no longer ours: loses quietly, touches nothing
        Assert.Equal("runner-b", (await store.ReadAsync(Log, Group, 0)).Owner);
    }

    [Fact]
    public async Task Renew_after_someone_else_claimed_returns_false()
    {
        var store = await NewStoreAsync();
        var a = (await store.TryClaimAsync(Log, Group, 0, "runner-a", LongTtl)).Lease!;
        Assert.True(await store.RenewAsync(a));

        Assert.True(await store.ExpireAsync(Log, Group, 0, "runner-a"));
        var b = await store.TryClaimAsync(Log, Group, 0, "runner-b", LongTtl);
        Assert.True(b.Claimed);

        Assert.False(await store.RenewAsync(a));
        Assert.False(await store.ReleaseAsync(a));
        Assert.Equal(("runner-b", 2L), ((await store.ReadAsync(Log, Group, 0)).Owner, (await store.ReadAsync(Log, Group, 0)).Epoch));
    }

    [Fact]
    public async Task Renew_that_answers_412_while_the_row_is_still_ours_succeeds()
    {
        var store = await NewStoreAsync();
        var lease = (await store.TryClaimAsync(Log, Group, 0, "runner-a", LongTtl)).Lease!;
        var stale = new Lease(lease.Log, lease.Group, lease.Partition, lease.Owner, lease.Epoch, lease.Ttl, lease.RenewedAt, lease.ETag);

        Assert.True(await store.RenewAsync(lease)); // the first try won…
        Assert.NotEqual(stale.ETag, lease.ETag);
        Assert.True(await store.RenewAsync(stale)); // …so the "retry" with the old ETag is a success too

        var row = await store.ReadAsync(Log, Group, 0);
        Assert.Equal(row.ETag, stale.ETag); // and it carries the current ETag on
        Assert.True(await store.RenewAsync(stale));
    }

    [Fact]
    public async Task Renew_that_answers_412_after_the_detector_expired_the_lease_fails()
    {
        var store = await NewStoreAsync();
        var lease = (await store.TryClaimAsync(Log, Group, 0, "runner-a", LongTtl)).Lease!;

        Assert.True(await store.ExpireAsync(Log, Group, 0, "runner-a"));

        Assert.False(await store.RenewAsync(lease)); // owner and epoch unchanged, but expired
        var info = await store.ReadAsync(Log, Group, 0);
        Assert.Equal(("runner-a", true, true), (info.Owner, info.IsExpired, info.IsClaimable));
    }

    [Fact]
    public async Task Renew_and_claim_whose_response_is_lost_still_succeed()
    {
        var lost = new LostResponsePolicy();
        var store = await NewStoreAsync(lost);

        lost.Arm(); // add → lost response → retry answers 409
        var claim = await store.TryClaimAsync(Log, Group, 0, "runner-a", LongTtl);
        Assert.True(claim.Claimed);

        lost.Arm(); // replace → lost response → retry answers 412
        Assert.True(await store.RenewAsync(claim.Lease!));

        lost.Arm();
        Assert.True(await store.ReleaseAsync(claim.Lease!)); // replace → lost response → retry answers 412
        Assert.Null((await store.ReadAsync(Log, Group, 0)).Owner);
        lost.Arm(); // claim over an existing row
        var again = await store.TryClaimAsync(Log, Group, 0, "runner-b", LongTtl);
        Assert.True(again.Claimed);
        Assert.Equal(4, lost.Fired);
        Assert.Equal(("runner-b", 2L), ((await store.ReadAsync(Log, Group, 0)).Owner, again.Lease!.Epoch));
    }

    [Fact]
    public async Task Expire_only_touches_a_lease_of_the_dead_owner()
    {
        var store = await NewStoreAsync();
        var a = (await store.TryClaimAsync(Log, Group, 0, "runner-a", LongTtl)).Lease!;

        Assert.False(await store.ExpireAsync(Log, Group, 0, "runner-z"));
        Assert.False(await store.ExpireAsync(Log, Group, 1, "runner-a")); // no such row
        Assert.True(await store.RenewAsync(a));

        Assert.True(await store.ExpireAsync(Log, Group, 0, "runner-a"));
        Assert.False(await store.ExpireAsync(Log, Group, 0, "runner-a")); // already expired
        var b = await store.TryClaimAsync(Log, Group, 0, "runner-b", LongTtl);
        Assert.True(b.Claimed); // at once, without waiting for the TTL
        Assert.False((await store.ReadAsync(Log, Group, 0)).IsExpired);
    }

    [Fact]
    public async Task A_lease_expires_by_service_time_and_then_another_owner_claims_it()
    {
        var store = await NewStoreAsync();
        var ttl = TimeSpan.FromSeconds(2);
        var a = await store.TryClaimAsync(Log, Group, 0, "runner-a", ttl);
        Assert.True(a.Claimed);
        var watch = Stopwatch.StartNew();

        Assert.False((await store.TryClaimAsync(Log, Group, 0, "runner-b", ttl)).Claimed);

        LeaseClaim b;
        while (!(b = await store.TryClaimAsync(Log, Group, 0, "runner-b", ttl)).Claimed)
        {
            // Refused only while the lease is valid by the service's clock (its Date header), whatever the local clock says.
            Assert.True(b.Current.ServiceNow < b.Current.ExpiresAt, $"refused at service time {b.Current.ServiceNow:O} although the lease expired at {b.Current.ExpiresAt:O}");
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), "the lease never expired");
            await Task.Delay(200);
        }

        // Claimed no earlier than the expiry by the same clock.
        Assert.True(b.Lease!.RenewedAt >= a.Lease!.ExpiresAt, $"claimed at {b.Lease.RenewedAt:O}, before the expiry at {a.Lease.ExpiresAt:O}");
        Assert.Equal(2, b.Lease!.Epoch);
        Assert.False(await store.RenewAsync(a.Lease!));
    }

    [Fact]
    public async Task List_reports_expiry_against_service_time()
    {
        var store = await NewStoreAsync();
        await store.TryClaimAsync(Log, Group, 0, "runner-a", TimeSpan.FromSeconds(1));
        await store.TryClaimAsync(Log, Group, 1, "runner-b", LongTtl);
        var free = (await store.TryClaimAsync(Log, Group, 2, "runner-c", LongTtl)).Lease!;
        await store.ReleaseAsync(free);
        await store.TryClaimAsync(Log, "other", 0, "runner-d", LongTtl);

        await Task.Delay(TimeSpan.FromSeconds(2.5));
        var list = await store.ListAsync(Log, Group);

        Assert.Equal(
            new (int, string?, bool, bool)[] { (0, "runner-a", true, true), (1, "runner-b", false, false), (2, null, false, true) },
            list.Select(l => (l.Partition, l.Owner, l.IsExpired, l.IsClaimable)));
        Assert.All(list, l => Assert.True(l.ServiceNow > DateTimeOffset.UtcNow.AddMinutes(-5)));
    }
}
