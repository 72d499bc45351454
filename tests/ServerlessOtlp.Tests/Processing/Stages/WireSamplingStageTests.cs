using Google.Protobuf;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Processing.Stages;
using ServerlessOtlp.Tenants;
using static ServerlessOtlp.Tests.Pipeline.TailSamplingTestData;
using static ServerlessOtlp.Tests.Processing.Stages.StageTestKit;

namespace ServerlessOtlp.Tests.Processing.Stages;

public class WireSamplingStageTests
{
    private static TenantConfig Sampling(double percentage) => TenantWith(Destination("out")) with
    {
        Sampling = new SamplingConfig { Traces = new TraceSamplingConfig { Mode = SamplingMode.Proportional, SamplingPercentage = percentage } },
    };

    [Fact]
    public async Task An_event_sampled_out_entirely_is_delivered_without_going_further()
    {
        var next = new RecordingStage();
        var stage = new WireSamplingStage(next);
        var item = new EventContext(Sampling(0), 0, Event(1, Request(Span(TraceId(1, 0), "a"), Span(TraceId(2, 0), "b")).ToByteArray()));

        Assert.Equal(EventFate.Delivered, await stage.ProcessAsync(item, default));

        Assert.Empty(next.Received);
        Assert.Equal(2, stage.SampledOutTotal);
        Assert.NotNull(item.SampledBody); // the composer returns it to its pool
        item.SampledBody!.Dispose();
    }

    [Fact]
    public async Task Kept_spans_go_on_in_the_sampled_body()
    {
        var next = new RecordingStage();
        var stage = new WireSamplingStage(next);
        var body = Request(Span(TraceId(1, 0), "a")).ToByteArray();
        var item = new EventContext(Sampling(100), 0, Event(1, body));

        await stage.ProcessAsync(item, default);

        Assert.Single(next.Received);
        Assert.Equal(0, stage.SampledOutTotal);
        Assert.True(item.SampledBody!.WrittenMemory.Equals(item.Event.Body));
        item.SampledBody.Dispose();
    }

    [Fact]
    public async Task Metrics_and_tenants_without_sampling_pass_untouched()
    {
        var next = new RecordingStage();
        var stage = new WireSamplingStage(next);
        var metrics = new EventContext(Sampling(0), 0, Event(1, new byte[] { 1, 2 }, Signal.Metrics));
        var unsampled = new EventContext(TenantWith(), 0, Event(2, new byte[] { 3 }));

        await stage.ProcessAsync(metrics, default);
        await stage.ProcessAsync(unsampled, default);

        Assert.Equal(2, next.Received.Count);
        Assert.Null(metrics.SampledBody);
        Assert.Null(unsampled.SampledBody);
        Assert.Equal([1, 2], metrics.Event.Body.ToArray());
    }
}
