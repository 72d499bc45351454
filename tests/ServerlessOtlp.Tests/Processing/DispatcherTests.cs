using ServerlessOtlp.Processing;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Processing;

[Collection(AzuriteCollection.Name)]
public sealed class DispatcherTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Dispatch_enqueues_once_per_partition_with_lag_and_not_while_leased()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString, partitions: 3);
        await ctx.AppendSpansAsync(0, 0, 3);
        await ctx.AppendSpansAsync(1, 3, 3);
        // Partition 2 has no data; partition 1 is being drained by someone.
        Assert.True((await ctx.Leases.TryClaimAsync(ctx.Log.Name, "$Default", 1, "busy", TimeSpan.FromMinutes(1))).Claimed);
        var (queue, jobs) = await ctx.QueueJobsAsync();
        var dispatcher = new Dispatcher(ctx.Log, ctx.Checkpoints, ctx.Leases, jobs, DrainTestContext.Options("dispatcher"));

        Assert.Equal([0], await dispatcher.DispatchAsync());
        Assert.Empty(await dispatcher.DispatchAsync()); // pending marker
        var message = Assert.Single((await queue.ReceiveMessagesAsync(maxMessages: 32)).Value);
        Assert.Equal(0, DrainJob.FromJson(message.Body.ToString()).Partition);

        await jobs.StartedAsync(new DrainJob(0));
        Assert.Equal([0], await dispatcher.DispatchAsync());

        var status = await dispatcher.GetStatusAsync();
        // The blob log counts lag in bytes.
        Assert.Equal([true, true, false], status.Select(s => s.Lag > 0));
        Assert.Equal("busy", status[1].LeaseOwner);
        Assert.False(status[1].LeaseClaimable);
    }
}
