using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Metrics.V1;
using OpenTelemetry.Proto.Trace.V1;
using ServerlessOtlp.Pipeline.Ottl;
using static ServerlessOtlp.Tests.Pipeline.OttlTestData;

namespace ServerlessOtlp.Tests.Pipeline;

/// <summary>
/// The walk itself, on the three signals: which items a context visits, in which order drops are
/// asked, what is counted and what is left behind empty. The transform and filter tests cover the
/// same walk through <c>TenantTransformer</c>; these pin the edges one by one.
/// </summary>
public class OttlTraversalTests
{
    public static TheoryData<string, OttlContextKind, int> Visits => new()
    {
        { "traces", OttlContextKind.Resource, 2 },
        { "traces", OttlContextKind.Scope, 3 },
        { "traces", OttlContextKind.Span, 4 },
        { "traces", OttlContextKind.SpanEvent, 2 },
        { "logs", OttlContextKind.Resource, 1 },
        { "logs", OttlContextKind.Scope, 1 },
        { "logs", OttlContextKind.Log, 3 },
        { "metrics", OttlContextKind.Resource, 1 },
        { "metrics", OttlContextKind.Scope, 1 },
        { "metrics", OttlContextKind.Metric, 2 },
        { "metrics", OttlContextKind.DataPoint, 3 },
    };

    [Theory]
    [MemberData(nameof(Visits))]
    public void A_context_is_visited_once_per_item(string signal, OttlContextKind context, int expected)
    {
        int visits = 0;
        Assert.True(OttlTraversal.ForEach(Request(signal), context, new OttlContext(), _ =>
        {
            visits++;
            return true;
        }));
        Assert.Equal(expected, visits);
    }

    [Fact]
    public void Each_visit_sees_the_item_and_its_parents()
    {
        var seen = new List<string>();
        OttlTraversal.ForEach(Traces(), OttlContextKind.SpanEvent, new OttlContext(), c =>
        {
            seen.Add($"{c.Resource!.Attributes[0].Value.StringValue}/{c.Scope!.Name}/{c.Span!.Name}/{c.SpanEvent!.Name}");
            return true;
        });
        Assert.Equal(["checkout/Checkout.Api/POST /orders/{id}/exception", "checkout/Checkout.Api/POST /orders/{id}/retry"], seen);

        seen.Clear();
        OttlTraversal.ForEach(Metrics(), OttlContextKind.DataPoint, new OttlContext(), c =>
        {
            seen.Add($"{c.Metric!.Name}:{c.DataPoint!.GetType().Name}");
            return true;
        });
        Assert.Equal(["http.server.request.duration:HistogramDataPoint", "http.server.request.duration:HistogramDataPoint", "process.cpu.count:NumberDataPoint"], seen);
    }

    [Fact]
    public void A_run_answering_false_stops_the_walk()
    {
        int visits = 0;
        Assert.False(OttlTraversal.ForEach(Traces(), OttlContextKind.Span, new OttlContext(), _ => ++visits < 2));
        Assert.Equal(2, visits);
    }

    [Fact]
    public void Statements_get_a_resource_and_scope_to_write_into_and_filters_do_not_add_them()
    {
        var request = new ExportTraceServiceRequest { ResourceSpans = { new ResourceSpans { ScopeSpans = { new ScopeSpans { Spans = { new Span { Name = "a" } } } } } } };
        var pruned = request.Clone();

        OttlTraversal.Prune(pruned, new OttlContext(), new HashSet<OttlContextKind> { OttlContextKind.Span }, (_, _) => false);
        Assert.Null(pruned.ResourceSpans[0].Resource);
        Assert.Null(pruned.ResourceSpans[0].ScopeSpans[0].Scope);

        OttlTraversal.ForEach(request, OttlContextKind.Span, new OttlContext(), c => c.Resource is not null && c.Scope is not null);
        Assert.NotNull(request.ResourceSpans[0].Resource);
        Assert.NotNull(request.ResourceSpans[0].ScopeSpans[0].Scope);
    }

    [Fact]
    public void Items_are_spans_log_records_and_data_points()
    {
        Assert.Equal(4, OttlTraversal.CountItems(Traces()));
        Assert.Equal(3, OttlTraversal.CountItems(Logs()));
        Assert.Equal(3, OttlTraversal.CountItems(Metrics()));
        Assert.Throws<ArgumentException>(() => OttlTraversal.ForEach(new Span(), OttlContextKind.Span, new OttlContext(), _ => true));
    }

    [Fact]
    public void Drops_are_asked_from_the_last_item_up_and_count_the_items_they_take()
    {
        var request = Traces();
        var asked = new List<string>();
        var levels = new HashSet<OttlContextKind> { OttlContextKind.Resource, OttlContextKind.Scope, OttlContextKind.Span };
        int removed = OttlTraversal.Prune(request, new OttlContext(), levels, (c, level) =>
        {
            asked.Add(level switch
            {
                OttlContextKind.Resource => "resource " + c.Resource!.Attributes[0].Value.StringValue,
                OttlContextKind.Scope => "scope " + c.Scope!.Name,
                _ => "span " + c.Span!.Name,
            });
            return level == OttlContextKind.Scope && c.Scope!.Name == "Checkout.Api"; // takes 2 spans
        });

        Assert.Equal(
            ["resource cart", "scope Cart.Api", "span GET /cart", "resource checkout", "scope Npgsql", "span SELECT orders", "scope Checkout.Api"],
            asked);
        Assert.Equal(2, removed);
        Assert.Equal(["SELECT orders", "GET /cart"], Spans(request).Select(s => s.Name));
    }

    [Fact]
    public void Scopes_and_resources_left_empty_go_even_when_only_resources_are_asked()
    {
        var request = Traces();
        request.ResourceSpans[0].ScopeSpans.Add(new ScopeSpans());
        request.ResourceSpans.Add(new ResourceSpans { ScopeSpans = { new ScopeSpans() } });

        int removed = OttlTraversal.Prune(request, new OttlContext(), new HashSet<OttlContextKind> { OttlContextKind.Resource }, (_, _) => false);

        Assert.Equal(0, removed);
        Assert.Equal(2, request.ResourceSpans.Count);
        Assert.Equal(2, request.ResourceSpans[0].ScopeSpans.Count);
    }

    [Fact]
    public void A_span_whose_events_are_all_dropped_stays()
    {
        var request = Traces();

        int removed = OttlTraversal.Prune(request, new OttlContext(), new HashSet<OttlContextKind> { OttlContextKind.SpanEvent }, (_, _) => true);

        Assert.Equal(0, removed); // events are not items
        Assert.Equal(4, OttlTraversal.CountItems(request));
        Assert.Empty(SpanNamed(request, "POST /orders/{id}").Events);
    }

    [Fact]
    public void A_metric_goes_when_its_points_were_all_dropped_not_when_it_had_none()
    {
        var request = Metrics();
        var metrics = request.ResourceMetrics[0].ScopeMetrics[0].Metrics;
        metrics.Add(new Metric { Name = "no.data" });

        int removed = OttlTraversal.Prune(request, new OttlContext(), new HashSet<OttlContextKind> { OttlContextKind.Metric }, (c, _) => c.Metric!.Name == "process.cpu.count");
        Assert.Equal(1, removed);
        Assert.Equal(["http.server.request.duration", "no.data"], metrics.Select(m => m.Name));

        removed = OttlTraversal.Prune(request, new OttlContext(), new HashSet<OttlContextKind> { OttlContextKind.DataPoint }, (c, _) => ((HistogramDataPoint)c.DataPoint!).Count == 1);
        Assert.Equal(1, removed);
        Assert.Equal(["http.server.request.duration"], metrics.Select(m => m.Name)); // pruned points: a metric without any goes

        removed = OttlTraversal.Prune(request, new OttlContext(), new HashSet<OttlContextKind> { OttlContextKind.DataPoint }, (_, _) => true);
        Assert.Equal(1, removed);
        Assert.Empty(request.ResourceMetrics);
    }

    private static IMessage Request(string signal) => signal switch
    {
        "traces" => Traces(),
        "logs" => Logs(),
        _ => Metrics(),
    };
}
