using Microsoft.Extensions.Time.Testing;
using ServerlessOtlp.Processing;

namespace ServerlessOtlp.Tests.Processing;

public sealed class LocalResponseTimeTests
{
    [Fact]
    public void The_average_covers_the_last_30_seconds_and_ages_out_when_no_work_is_done()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(1));
        var work = new LocalResponseTime(time);
        Assert.Null(work.Average);
        Assert.False(work.Exceeds(TimeSpan.FromMilliseconds(1)));

        work.Record(TimeSpan.FromMilliseconds(100));
        work.Record(TimeSpan.FromMilliseconds(300));
        Assert.Equal(TimeSpan.FromMilliseconds(200), work.Average);
        Assert.True(work.Exceeds(TimeSpan.FromMilliseconds(150)));

        // Work timed with Start/Record, in a later slot: still averaged with the rest of the window.
        time.Advance(TimeSpan.FromSeconds(12));
        long started = work.Start();
        time.Advance(TimeSpan.FromMilliseconds(500));
        work.Record(started);
        Assert.Equal(TimeSpan.FromMilliseconds(300), work.Average);

        // A node that stopped working is no longer slow once its window has passed.
        time.Advance(LocalResponseTime.Window);
        Assert.Null(work.Average);
        Assert.False(work.Exceeds(TimeSpan.FromMilliseconds(150)));
    }
}
