using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Trace.V1;
using ServerlessOtlp.Export.Otlp;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Pipeline;
using ServerlessOtlp.Pipeline.Ottl;
using ServerlessOtlp.Tenants;
using static ServerlessOtlp.Tests.Pipeline.OttlTestData;

namespace ServerlessOtlp.Tests.Pipeline;

public class OttlFilterTests
{
    private static bool Holds(string condition)
    {
        var request = Traces();
        var orders = SpanNamed(request, "POST /orders/{id}");
        orders.Attributes.Add(Kv("retried", true));
        var context = new OttlContext { Resource = request.ResourceSpans[0].Resource, Scope = request.ResourceSpans[0].ScopeSpans[0].Scope, Span = orders };
        return OttlCompiler.CompileCondition(condition, Signal.Traces).Evaluate(context);
    }

    // The orders span: http.response.status_code 500, kind SERVER, status ERROR, name "POST /orders/{id}".
    [Theory]
    [InlineData("span.attributes[\"http.response.status_code\"] == 500", true)]
    [InlineData("span.attributes[\"http.response.status_code\"] != 500", false)]
    [InlineData("span.attributes[\"http.response.status_code\"] < 500", false)]
    [InlineData("span.attributes[\"http.response.status_code\"] <= 500", true)]
    [InlineData("span.attributes[\"http.response.status_code\"] > 499", true)]
    [InlineData("span.attributes[\"http.response.status_code\"] >= 501", false)]
    [InlineData("span.attributes[\"http.response.status_code\"] == 500.0", true)]
    [InlineData("span.attributes[\"http.response.status_code\"] < 500.5", true)]
    [InlineData("span.attributes[\"http.response.status_code\"] == \"500\"", false)]
    [InlineData("span.attributes[\"http.response.status_code\"] != \"500\"", true)]
    [InlineData("span.attributes[\"http.response.status_code\"] < \"600\"", false)]
    [InlineData("span.name == \"POST /orders/{id}\"", true)]
    [InlineData("span.name < \"Q\"", true)]
    [InlineData("span.name >= \"Q\"", false)]
    [InlineData("span.attributes[\"retried\"] == true", true)]
    [InlineData("span.attributes[\"retried\"] > false", true)]
    [InlineData("span.attributes[\"absent\"] == nil", true)]
    [InlineData("span.attributes[\"absent\"] != nil", false)]
    [InlineData("span.attributes[\"url.path\"] != nil", true)]
    [InlineData("span.attributes[\"url.path\"] == nil", false)]
    [InlineData("nil == nil", true)]
    [InlineData("nil <= nil", true)]
    [InlineData("span.attributes[\"absent\"] < 1", false)]
    [InlineData("span.attributes[\"absent\"] >= 1", false)]
    [InlineData("span.kind == SPAN_KIND_SERVER", true)]
    [InlineData("span.kind == 2", true)]
    [InlineData("span.kind != SPAN_KIND_CLIENT", true)]
    [InlineData("span.status.code == STATUS_CODE_ERROR", true)]
    [InlineData("span.status.message == \"\"", true)]
    [InlineData("resource.attributes[\"service.name\"] == \"checkout\" and span.kind == SPAN_KIND_SERVER", true)]
    [InlineData("resource.attributes[\"service.name\"] == \"cart\" or span.kind == SPAN_KIND_CLIENT", false)]
    [InlineData("not span.kind == SPAN_KIND_SERVER", false)]
    [InlineData("not (span.kind == SPAN_KIND_CLIENT or span.name == \"x\")", true)]
    [InlineData("span.name == \"x\" and span.name == \"y\" or true", true)]
    [InlineData("span.name == \"x\" and (span.name == \"y\" or true)", false)]
    [InlineData("IsMatch(span.name, \"^POST \")", true)]
    [InlineData("not IsMatch(span.attributes[\"absent\"], \".*\")", true)]
    [InlineData("IsString(span.name) and not IsString(span.kind)", true)]
    [InlineData("scope.name == \"Checkout.Api\" and instrumentation_scope.version == \"1.0.0\"", true)]
    [InlineData("span.trace_id == 0x02030405060708090a0b0c0d0e0f1011", true)]
    [InlineData("span.span_id.string == \"666768696a6b6c6d\"", true)]
    [InlineData("span.attributes == span.attributes", true)]
    [InlineData("span.attributes != resource.attributes", true)]
    [InlineData("[1, \"a\"] == [1, \"a\"]", true)]
    [InlineData("false", false)]
    public void Conditions_follow_the_collectors_comparison_rules(string condition, bool expected)
    {
        Assert.Equal(expected, Holds(condition));
    }

    [Fact]
    public void Trace_filters_drop_matching_spans_and_the_containers_left_empty()
    {
        var request = Traces();
        var tenant = Tenant(Signal.Traces, filters:
        [
            "span.attributes[\"url.path\"] == \"/health\"",
            "resource.attributes[\"deployment.environment\"] == \"staging\"",
            "scope.name == \"Npgsql\"",
            "spanevent.name == \"retry\"",
        ]);

        var result = new TenantTransformer().Apply(tenant, Signal.Traces, request);

        Assert.Equal(new TransformResult(4, 1, 3, 0, 0, null), result);
        var resource = Assert.Single(request.ResourceSpans);
        Assert.Equal("checkout", Attr(resource.Resource.Attributes, "service.name")!.StringValue);
        var scope = Assert.Single(resource.ScopeSpans);
        var span = Assert.Single(scope.Spans);
        Assert.Equal("POST /orders/{id}", span.Name);
        Assert.Equal(["exception"], span.Events.Select(e => e.Name));
    }

    [Fact]
    public void Filters_run_after_transforms_and_can_drop_everything()
    {
        var request = Traces();
        var tenant = Tenant(Signal.Traces, transforms: ["set(span.attributes[\"drop\"], true) where span.kind == SPAN_KIND_CLIENT"], filters: ["span.attributes[\"drop\"] == true", "span.kind == SPAN_KIND_SERVER"]);

        var result = new TenantTransformer().Apply(tenant, Signal.Traces, request);

        Assert.Equal(4, result.DroppedByFilter);
        Assert.Equal(0, result.ItemsOut);
        Assert.Empty(request.ResourceSpans);
    }

    [Fact]
    public void Log_filters_drop_debug_records()
    {
        var request = Logs();

        var result = new TenantTransformer().Apply(Tenant(Signal.Logs, filters: ["log.severity_number < SEVERITY_NUMBER_INFO", "IsMatch(body, \"^never\")"]), Signal.Logs, request);

        Assert.Equal(1, result.DroppedByFilter);
        Assert.Equal(["Information", "Error"], LogRecords(request).Select(l => l.SeverityText));
    }

    [Fact]
    public void Metric_filters_drop_data_points_and_metrics_left_without_points()
    {
        var request = Metrics();

        var result = new TenantTransformer().Apply(Tenant(Signal.Metrics, filters: ["datapoint.attributes[\"http.route\"] == \"/health\"", "metric.name == \"process.cpu.count\""]), Signal.Metrics, request);

        Assert.Equal(new TransformResult(3, 1, 2, 0, 0, null), result);
        var metric = Assert.Single(request.ResourceMetrics[0].ScopeMetrics[0].Metrics);
        Assert.Equal("/orders/{id}", Attr(Assert.Single(metric.Histogram.DataPoints).Attributes, "http.route")!.StringValue);

        var all = Metrics();
        new TenantTransformer().Apply(Tenant(Signal.Metrics, filters: ["IsString(datapoint.attributes[\"http.route\"])"]), Signal.Metrics, all);
        Assert.Equal(["process.cpu.count"], all.ResourceMetrics[0].ScopeMetrics[0].Metrics.Select(m => m.Name));
    }

    [Fact]
    public void A_filter_error_follows_the_error_mode()
    {
        const string Broken = "span.attributes[\"url.path\"][\"x\"] == 1"; // a string has no keys: an evaluation error
        var propagate = new TenantTransformer().Apply(Tenant(Signal.Traces, filters: [Broken]), Signal.Traces, Traces());
        Assert.True(propagate.Failed);
        Assert.StartsWith("filter condition", propagate.Error, StringComparison.Ordinal);

        var request = Traces();
        var ignore = new TenantTransformer().Apply(Tenant(Signal.Traces, filters: [Broken, "span.kind == SPAN_KIND_CLIENT"], mode: TransformErrorMode.Ignore), Signal.Traces, request);
        Assert.False(ignore.Failed);
        Assert.Equal(3, ignore.Errors); // one per span that has url.path
        Assert.Equal(1, ignore.DroppedByFilter);
    }

    [Fact]
    public void A_tenant_without_pipeline_work_passes_requests_through_counted()
    {
        var request = Traces();
        var before = request.Clone();

        var result = new TenantTransformer().Apply(new TenantConfig { Id = "plain" }, Signal.Traces, request);

        Assert.Equal(new TransformResult(4, 4, 0, 0, 0, null), result);
        Assert.Equal(before, request);
    }

    [Fact]
    public void A_destination_without_when_takes_the_request_itself()
    {
        var request = Traces();
        Assert.Same(request, new TenantTransformer().FilterForDestination(Destination(null), Signal.Traces, request));
    }

    [Fact]
    public void A_resource_when_selects_whole_resources_from_a_copy()
    {
        var request = Traces();
        var before = request.Clone();
        var transformer = new TenantTransformer();

        var prod = (ExportTraceServiceRequest)transformer.FilterForDestination(Destination("resource.attributes[\"deployment.environment\"] == \"prod\""), Signal.Traces, request)!;
        var rest = (ExportTraceServiceRequest)transformer.FilterForDestination(Destination("resource.attributes[\"deployment.environment\"] != \"prod\""), Signal.Traces, request)!;

        Assert.Equal(before, request);
        Assert.Equal(["checkout"], prod.ResourceSpans.Select(r => Attr(r.Resource.Attributes, "service.name")!.StringValue));
        Assert.Equal(3, Spans(prod).Count());
        Assert.Equal(["cart"], rest.ResourceSpans.Select(r => Attr(r.Resource.Attributes, "service.name")!.StringValue));
        Assert.Null(transformer.FilterForDestination(Destination("resource.attributes[\"deployment.environment\"] == \"dev\""), Signal.Traces, request));
    }

    [Fact]
    public void A_span_when_selects_spans_and_keeps_their_resources()
    {
        var request = Traces();

        var errors = (ExportTraceServiceRequest)new TenantTransformer().FilterForDestination(Destination("span.status.code == STATUS_CODE_ERROR"), Signal.Traces, request)!;

        var resource = Assert.Single(errors.ResourceSpans);
        Assert.Equal(request.ResourceSpans[0].Resource, resource.Resource);
        Assert.Equal("POST /orders/{id}", Assert.Single(Assert.Single(resource.ScopeSpans).Spans).Name);
        Assert.Equal(4, Spans(request).Count());
    }

    [Fact]
    public void Matches_evaluates_a_when_condition_on_one_resource()
    {
        var request = Traces();
        var transformer = new TenantTransformer();
        const string When = "resource.attributes[\"service.name\"] == \"cart\"";

        Assert.Equal([false, true], request.ResourceSpans.Select(r => transformer.Matches(When, Signal.Traces, new OttlContext { Resource = r.Resource })));
    }

    private static DestinationConfig Destination(string? when) =>
        new() { Name = "d", Kind = OtlpDestination.KindName, Endpoint = "http://backend:4317", Signals = [Signal.Traces], When = when };
}
