using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Resource.V1;
using OpenTelemetry.Proto.Trace.V1;
using ServerlessOtlp.Export;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Pipeline;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Processing.Stages;
using ServerlessOtlp.Tenants;
using static ServerlessOtlp.Tests.Pipeline.TailSamplingTestData;
using static ServerlessOtlp.Tests.Processing.Stages.StageTestKit;

namespace ServerlessOtlp.Tests.Processing.Stages;

public class RouteStageTests
{
    private const string CartOnly = "resource.attributes[\"service.name\"] == \"cart\"";

    private static ExportTraceServiceRequest TwoServices()
    {
        ResourceSpans Service(string name, string span) => new()
        {
            Resource = new Resource { Attributes = { Str("service.name", name) } },
            ScopeSpans = { new ScopeSpans { Spans = { Span(TraceId(1, 0), span) } } },
        };

        return new ExportTraceServiceRequest { ResourceSpans = { Service("cart", "checkout"), Service("web", "page") } };
    }

    private static (RouteStage Route, RecordingDeadLetters Dead) Route(RecordingExporter exporter, RetryStore? retryStore = null)
    {
        var dead = new RecordingDeadLetters();
        var resilient = new ResilientExporter([exporter]);
        var settle = new SettleStage(retryStore, DeadLettering(dead), NullLogger.Instance);
        var delivery = new DestinationDelivery(resilient, settle, TimeProvider.System);
        return (new RouteStage(new TenantTransformer(), resilient, DeadLettering(dead), delivery), dead);
    }

    [Fact]
    public async Task A_when_destination_gets_only_the_matching_part_and_the_others_all_of_it()
    {
        var exporter = new RecordingExporter();
        var (route, dead) = Route(exporter);
        var tenant = TenantWith(
            Destination("all"),
            Destination("cart", when: CartOnly),
            Destination("nobody", when: "resource.attributes[\"service.name\"] == \"none\""),
            Destination("logs", signal: Signal.Logs));
        var item = Decoded(tenant, 5, TwoServices());

        Assert.Equal(EventFate.Delivered, await route.ProcessAsync(item, default));

        var sent = exporter.Requests.ToDictionary(r => r.Destination, r => r.Protobuf);
        Assert.Equal(["all", "cart"], sent.Keys.Order());
        Assert.Equal(item.Bytes.ToArray(), sent["all"]);
        Assert.Equal(["checkout"], Spans(ExportTraceServiceRequest.Parser.ParseFrom(sent["cart"])).Select(s => s.Name));
        Assert.Empty(dead.Written);
    }

    [Fact]
    public async Task A_destination_kind_this_build_lacks_is_dead_lettered_and_the_others_still_get_theirs()
    {
        var exporter = new RecordingExporter();
        var (route, dead) = Route(exporter);
        var item = Decoded(TenantWith(Destination("out"), Destination("elsewhere", kind: "not-built")), 5, TwoServices());

        Assert.Equal(EventFate.DeadLettered, await route.ProcessAsync(item, default));

        Assert.Equal("out", Assert.Single(exporter.Requests).Destination);
        var letter = Assert.Single(dead.Written);
        Assert.Equal(("elsewhere", 5L, "destination kind not-built is not available in this build"), (letter.Destination, letter.Position, letter.Reason));
        Assert.Equal(item.Bytes.ToArray(), letter.Body);
    }

    [Fact]
    public async Task The_worst_fate_wins_and_a_dead_lettered_part_so_far_is_kept()
    {
        var exporter = new RecordingExporter { Answer = r => r.Destination.Name == "down" ? ExportOutcome.Transient("503") : ExportOutcome.Ok };
        var (route, _) = Route(exporter);

        var failing = Decoded(TenantWith(Destination("out"), Destination("down")), 5, TwoServices());
        var salvaged = Decoded(TenantWith(Destination("out")), 6, TwoServices());
        salvaged.Fate = EventFate.DeadLettered;

        // Without a retry store a transient failure cannot be parked: the drain reads the event again.
        Assert.Equal(EventFate.RetryLater, await route.ProcessAsync(failing, default));
        Assert.Equal(EventFate.DeadLettered, await route.ProcessAsync(salvaged, default));
    }

    [Fact]
    public async Task Routing_ends_the_local_work_of_a_timed_event_once()
    {
        var (route, _) = Route(new RecordingExporter());
        var item = Decoded(TenantWith(Destination("out")), 5, TwoServices());
        var ended = new List<long>();
        item.TimeLocalWork(42, (started, _) => ended.Add(started));

        await route.ProcessAsync(item, default);
        item.WorkDone();

        Assert.Equal([42L], ended);
    }
}
