using OpenTelemetry.Proto.Collector.Trace.V1;
using ServerlessOtlp.Pipeline;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Processing.Stages;
using ServerlessOtlp.Tenants;
using static ServerlessOtlp.Tests.Pipeline.TailSamplingTestData;
using static ServerlessOtlp.Tests.Processing.Stages.StageTestKit;

namespace ServerlessOtlp.Tests.Processing.Stages;

public class TransformStageTests
{
    private static TenantConfig With(string[]? transforms = null, string[]? filters = null) => TenantWith(Destination("out")) with
    {
        Transforms = transforms == null ? null : new OttlStatements { Traces = transforms },
        Filters = filters == null ? null : new OttlStatements { Traces = filters },
    };

    private static ExportTraceServiceRequest TwoSpans() => Request(Span(TraceId(1, 0), "keep", attributes: Int("n", 1)), Span(TraceId(2, 0), "drop"));

    [Fact]
    public async Task A_tenant_without_transforms_passes_the_request_as_it_is()
    {
        var next = new RecordingStage();
        var item = Decoded(With(), 1, TwoSpans());
        var bytes = item.Bytes;

        await new TransformStage(new TenantTransformer(), DeadLettering(new RecordingDeadLetters()), next).ProcessAsync(item, default);

        Assert.Single(next.Received);
        Assert.True(bytes.Equals(item.Bytes)); // the same memory: nothing re-serialized
    }

    [Fact]
    public async Task Transforms_and_filters_change_the_request_and_its_bytes()
    {
        var next = new RecordingStage();
        var item = Decoded(With(["set(span.attributes[\"env\"], \"prod\")"], ["span.name == \"drop\""]), 1, TwoSpans());

        await new TransformStage(new TenantTransformer(), DeadLettering(new RecordingDeadLetters()), next).ProcessAsync(item, default);

        Assert.Single(next.Received);
        var sent = ExportTraceServiceRequest.Parser.ParseFrom(item.Bytes.Span);
        var span = Assert.Single(Spans(sent));
        Assert.Equal("keep", span.Name);
        Assert.Contains(span.Attributes, a => a.Key == "env" && a.Value.StringValue == "prod");
    }

    [Fact]
    public async Task A_failed_transform_dead_letters_the_bytes_before_it()
    {
        var dead = new RecordingDeadLetters();
        var next = new RecordingStage();
        var item = Decoded(With(["set(span.attributes[\"h\"], SHA256(span.attributes[\"n\"]))"]), 4, TwoSpans());
        var before = item.Bytes.ToArray();

        var fate = await new TransformStage(new TenantTransformer(), DeadLettering(dead), next).ProcessAsync(item, default);

        Assert.Equal(EventFate.DeadLettered, fate);
        Assert.Empty(next.Received);
        var letter = Assert.Single(dead.Written);
        Assert.Equal(before, letter.Body);
        Assert.StartsWith("transform failed: ", letter.Reason);
    }

    [Fact]
    public async Task A_request_filtered_out_entirely_ends_with_the_fate_so_far()
    {
        var next = new RecordingStage();
        var item = Decoded(With(filters: ["span.name != \"\""]), 1, TwoSpans());
        item.Fate = EventFate.DeadLettered; // part of the event was undecodable

        var fate = await new TransformStage(new TenantTransformer(), DeadLettering(new RecordingDeadLetters()), next).ProcessAsync(item, default);

        Assert.Equal(EventFate.DeadLettered, fate);
        Assert.Empty(next.Received);
    }
}
