using Azure;
using Microsoft.Extensions.Time.Testing;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Processing;

/// <summary>Push-started drains: the gateway's half of the hand-shake (DrainWakeup), on Azurite's leases and queue.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class DrainWakeupTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task An_append_to_an_undrained_partition_enqueues_one_job_and_a_steady_stream_costs_one_check_per_horizon()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString, partitions: 3);
        var (queue, jobs) = await ctx.QueueJobsAsync();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var wakeup = new DrainWakeup(ctx.Leases, jobs, ctx.Log.Name, "$Default", 3, time);

        wakeup.Appended(0);
        await wakeup.LatestCheck(0);
        Assert.Equal((1, 1), (wakeup.Checks, wakeup.Enqueued));
        var message = Assert.Single((await queue.PeekMessagesAsync(maxMessages: 32)).Value);
        Assert.Equal(new DrainJob(0, "append"), DrainJob.FromJson(message.Body.ToString()));

        // Within the horizon the answer is trusted: no storage call per request.
        for (int i = 0; i < 100; i++)
        {
            wakeup.Appended(0);
        }

        await wakeup.LatestCheck(0);
        Assert.Equal(1, wakeup.Checks);

        // After it, the partition is looked at again; its job is still pending, so nothing more is enqueued.
        time.Advance(DrainWakeup.Horizon);
        wakeup.Appended(0);
        await wakeup.LatestCheck(0);
        Assert.Equal((2, 1), (wakeup.Checks, wakeup.Enqueued));

        // A partition whose lease is held has a drain: no job.
        Assert.True((await ctx.Leases.TryClaimAsync(ctx.Log.Name, "$Default", 1, "busy", TimeSpan.FromMinutes(1))).Claimed);
        wakeup.Appended(1);
        await wakeup.LatestCheck(1);
        Assert.Equal((3, 1), (wakeup.Checks, wakeup.Enqueued));
        Assert.Single((await queue.PeekMessagesAsync(maxMessages: 32)).Value);

        // Once that drain started its job (marker gone) and released the lease, the next append past the horizon pushes again.
        await jobs.StartedAsync(new DrainJob(0));
        time.Advance(DrainWakeup.Horizon);
        wakeup.Appended(0);
        await wakeup.LatestCheck(0);
        Assert.Equal(2, wakeup.Enqueued);
    }

    [Fact]
    public async Task A_failed_check_never_reaches_the_caller_pauses_the_partition_and_is_retried_by_a_later_append()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var leases = new FlakyLeases(failures: 1);
        var jobs = new InProcessDrainJobs();
        using var wakeup = new DrainWakeup(leases, jobs, "log", "$Default", 1, time);

        wakeup.Appended(0);
        await wakeup.LatestCheck(0);
        Assert.Equal(0, wakeup.Enqueued);

        wakeup.Appended(0); // paused: the storage just failed
        await wakeup.LatestCheck(0);
        Assert.Equal(1, leases.Reads);

        time.Advance(DrainWakeup.FailurePause);
        wakeup.Appended(0);
        await wakeup.LatestCheck(0);
        Assert.Equal((2, 1L), (leases.Reads, wakeup.Enqueued));
        Assert.True(jobs.Reader.TryRead(out var job));
        Assert.Equal(new DrainJob(0, "append"), job);
    }

    /// <summary>Leases that fail the first reads, then find the partition free.</summary>
    private sealed class FlakyLeases(int failures) : LeaseStore
    {
        private int _reads;

        public int Reads => Volatile.Read(ref _reads);

        public override Task<LeaseInfo> ReadAsync(string log, string group, int partition, CancellationToken cancellationToken = default) =>
            Interlocked.Increment(ref _reads) <= failures
                ? throw new RequestFailedException(503, "storage unavailable")
                : Task.FromResult(new LeaseInfo(partition, null, 0, TimeSpan.Zero, null, null, false, DateTimeOffset.UtcNow, default));
    }
}
