using ServerlessOtlp.Client.Implementation;

namespace ServerlessOtlp.Tests.Client;

public sealed class RetryBufferTests
{
    [Fact]
    public void Past_the_capacity_the_oldest_are_dropped_and_counted()
    {
        var buffer = new RetryBuffer<string>(3);
        Assert.Equal(0, buffer.Add(["a", "b"]));
        Assert.Equal(2, buffer.Add(["c", "d", "e"]));
        Assert.Equal(2, buffer.Dropped);

        var drained = new string[5];
        Assert.Equal(3, buffer.Drain(drained));
        Assert.Equal(["c", "d", "e"], drained[..3]);
        Assert.Equal(0, buffer.Count);
    }

    [Fact]
    public void Drain_takes_the_oldest_up_to_the_destination_size()
    {
        var buffer = new RetryBuffer<string>(10);
        buffer.Add(["a", "b", "c"]);
        var drained = new string[2];
        Assert.Equal(2, buffer.Drain(drained));
        Assert.Equal(["a", "b"], drained);
        Assert.Equal(1, buffer.Count);
    }
}
