using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Trace.V1;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Processing.Stages;
using static ServerlessOtlp.Tests.Pipeline.TailSamplingTestData;
using static ServerlessOtlp.Tests.Processing.Stages.StageTestKit;

namespace ServerlessOtlp.Tests.Processing.Stages;

public class DecodeStageTests
{
    // A top-level resource_spans record (field 1, length 3) whose content is a truncated varint: it never parses.
    private static readonly byte[] BadRecord = [0x0A, 0x03, 0xFF, 0xFF, 0xFF];

    [Fact]
    public async Task A_whole_request_goes_on_decoded_with_its_bytes()
    {
        var dead = new RecordingDeadLetters();
        var next = new RecordingStage();
        var body = Request(Span(TraceId(1, 0), "a")).ToByteArray();
        var item = new EventContext(TenantWith(), 0, Event(7, body));

        var fate = await new DecodeStage(DeadLettering(dead), next).ProcessAsync(item, default);

        Assert.Equal(EventFate.Delivered, fate);
        Assert.Same(item, Assert.Single(next.Received));
        Assert.Equal("a", Assert.Single(Spans((ExportTraceServiceRequest)item.Message!)).Name);
        Assert.Equal(body, item.Bytes.ToArray());
        Assert.Equal(EventFate.Delivered, item.Fate);
        Assert.Empty(dead.Written);
    }

    [Fact]
    public async Task Good_records_are_salvaged_and_the_rest_is_dead_lettered()
    {
        var dead = new RecordingDeadLetters();
        var next = new RecordingStage();
        var good = Request(Span(TraceId(1, 0), "kept")).ToByteArray();
        var item = new EventContext(TenantWith(), 0, Event(7, good.Concat(BadRecord).ToArray()));

        var fate = await new DecodeStage(DeadLettering(dead), next).ProcessAsync(item, default);

        // The rest of the chain answered Delivered, but part of the event is a dead letter.
        Assert.Equal(EventFate.Delivered, fate);
        Assert.Equal(EventFate.DeadLettered, item.Fate);
        Assert.Single(next.Received);
        Assert.Equal("kept", Assert.Single(Spans((ExportTraceServiceRequest)item.Message!)).Name);
        Assert.Equal(good, item.Bytes.ToArray());
        var letter = Assert.Single(dead.Written);
        Assert.Equal(BadRecord, letter.Body);
        Assert.Equal(7, letter.Position);
        Assert.Null(letter.Destination);
        Assert.StartsWith("undecodable traces data: ", letter.Reason);
    }

    [Fact]
    public async Task Nothing_decodable_is_dead_lettered_whole_and_goes_no_further()
    {
        var dead = new RecordingDeadLetters();
        var next = new RecordingStage();
        var item = new EventContext(TenantWith(), 0, Event(3, BadRecord));

        var fate = await new DecodeStage(DeadLettering(dead), next).ProcessAsync(item, default);

        Assert.Equal(EventFate.DeadLettered, fate);
        Assert.Empty(next.Received);
        Assert.Equal(BadRecord, Assert.Single(dead.Written).Body);
    }
}
