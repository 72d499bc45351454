using ServerlessOtlp.Processing;

namespace ServerlessOtlp.Tests.Processing;

/// <summary>The byte budget the drains read under (<c>Drain:MemoryBudgetBytes</c>).</summary>
public sealed class DrainMemoryBudgetTests
{
    [Fact]
    public async Task Grants_what_is_free_up_to_the_ask_and_never_more_than_the_capacity()
    {
        var budget = new DrainMemoryBudget(1000);

        Assert.Equal(600, await budget.AcquireAsync(100, 600));
        Assert.Equal(400, await budget.AcquireAsync(100, 600)); // only 400 left
        Assert.Equal(1000, budget.InUse);

        budget.Release(1000);
        Assert.Equal(1000, await budget.AcquireAsync(5000, 5000)); // more than the capacity: all of it, not a deadlock
        Assert.Equal(1000, budget.HighWaterMark);
        budget.Release(1000);
        Assert.Equal(0, budget.InUse);
    }

    [Fact]
    public async Task A_waiter_is_granted_on_release_and_waiters_are_served_in_order()
    {
        var budget = new DrainMemoryBudget(1000);
        Assert.Equal(900, await budget.AcquireAsync(900, 900));

        var big = budget.AcquireAsync(800, 800).AsTask();
        var small = budget.AcquireAsync(50, 50).AsTask(); // would fit now, but queues behind the big one
        Assert.False(big.IsCompleted);
        Assert.False(small.IsCompleted);

        budget.Release(900);
        Assert.Equal(800, await big);
        Assert.Equal(50, await small);
        Assert.Equal(850, budget.InUse);
        Assert.True(budget.HighWaterMark <= budget.Capacity);
    }

    [Fact]
    public async Task A_cancelled_waiter_leaves_the_queue_and_unblocks_those_behind_it()
    {
        var budget = new DrainMemoryBudget(1000);
        Assert.Equal(500, await budget.AcquireAsync(500, 500));

        using var cts = new CancellationTokenSource();
        var blocked = budget.AcquireAsync(1000, 1000, cts.Token).AsTask();
        var behind = budget.AcquireAsync(100, 100).AsTask();
        Assert.False(behind.IsCompleted);

        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => blocked);
        Assert.Equal(100, await behind);
        Assert.Equal(600, budget.InUse);
    }

    [Fact]
    public void Releasing_more_than_is_in_use_is_a_bug_and_says_so()
    {
        var budget = new DrainMemoryBudget(1000);
        Assert.Throws<InvalidOperationException>(() => budget.Release(1));
    }

    [Fact]
    public void The_setting_is_validated()
    {
        var options = new DrainOptions { MemoryBudgetBytes = 10 };
        Assert.Contains("MemoryBudgetBytes", Assert.Throws<InvalidOperationException>(options.Validate).Message);
        Assert.Equal(256L * 1024 * 1024, new DrainOptions().MemoryBudgetBytes);
    }
}
