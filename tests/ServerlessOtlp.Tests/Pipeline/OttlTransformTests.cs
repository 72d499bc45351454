using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Logs.V1;
using OpenTelemetry.Proto.Metrics.V1;
using OpenTelemetry.Proto.Trace.V1;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Pipeline;
using ServerlessOtlp.Tenants;
using static ServerlessOtlp.Tests.Pipeline.OttlTestData;

namespace ServerlessOtlp.Tests.Pipeline;

public class OttlTransformTests
{
    [Fact]
    public void Classic_paths_without_a_prefix_mean_the_signals_default_context()
    {
        var traces = Traces();
        Transform(traces, Signal.Traces, "set(attributes[\"span.name\"], name) where kind == SPAN_KIND_CLIENT and instrumentation_scope.name == \"Npgsql\"");
        Assert.Equal("SELECT orders", Attr(SpanNamed(traces, "SELECT orders").Attributes, "span.name")!.StringValue);
        Assert.Single(Spans(traces), s => Attr(s.Attributes, "span.name") is not null);

        var logs = Logs();
        Transform(logs, Signal.Logs, "set(attributes[\"level\"], severity_text) where severity_number >= SEVERITY_NUMBER_INFO", "set(body, \"redacted\") where IsMatch(body, \"card\")");
        Assert.Equal([null, "Information", "Error"], LogRecords(logs).Select(l => Attr(l.Attributes, "level")?.StringValue));
        Assert.Equal("redacted", LogRecords(logs).Last().Body.StringValue);

        var metrics = Metrics();
        Transform(metrics, Signal.Metrics, "set(attributes[\"metric\"], metric.name) where metric.type == METRIC_DATA_TYPE_HISTOGRAM", "set(value_int, 16) where metric.name == \"process.cpu.count\"");
        var points = metrics.ResourceMetrics[0].ScopeMetrics[0].Metrics;
        Assert.All(points[0].Histogram.DataPoints, p => Assert.Equal("http.server.request.duration", Attr(p.Attributes, "metric")!.StringValue));
        Assert.Equal(16, points[1].Gauge.DataPoints[0].AsInt);
        Assert.Empty(points[1].Gauge.DataPoints[0].Attributes);
    }

    [Fact]
    public void Resource_scope_and_spanevent_statements_run_once_per_item_of_their_context()
    {
        var request = Traces();

        Transform(request, Signal.Traces,
            "set(resource.attributes[\"team\"], \"payments\") where resource.attributes[\"service.name\"] == \"checkout\"",
            "set(scope.attributes[\"instrumented\"], true) where scope.version != \"\"",
            "set(spanevent.attributes[\"on.span\"], span.name) where spanevent.name == \"exception\"",
            "set(span.attributes[\"events\"], span.dropped_events_count)");

        Assert.Equal("payments", Attr(request.ResourceSpans[0].Resource.Attributes, "team")!.StringValue);
        Assert.Null(Attr(request.ResourceSpans[1].Resource.Attributes, "team"));
        Assert.Equal([true, true, false], request.ResourceSpans.SelectMany(r => r.ScopeSpans).Select(s => Attr(s.Scope.Attributes, "instrumented") is not null));
        var orders = SpanNamed(request, "POST /orders/{id}");
        Assert.Equal("POST /orders/{id}", Attr(orders.Events[0].Attributes, "on.span")!.StringValue);
        Assert.Null(Attr(orders.Events[1].Attributes, "on.span"));
        Assert.Equal(0, Attr(orders.Attributes, "events")!.IntValue);
    }

    [Fact]
    public void Log_bodies_and_severities_can_be_read_and_written()
    {
        var request = Logs();

        var result = Transform(request, Signal.Logs,
            "set(log.attributes[\"body.hash\"], SHA256(log.body)) where log.severity_number == SEVERITY_NUMBER_DEBUG",
            "set(log.severity_text, \"WARN\") where log.severity_number >= SEVERITY_NUMBER_ERROR",
            "set(log.body, log.attributes) where log.severity_number == SEVERITY_NUMBER_INFO",
            "set(log.body[\"message\"], \"structured\") where log.severity_number == SEVERITY_NUMBER_INFO",
            "replace_pattern(log.body, \"\\\\d{5}\", \"#####\")");

        Assert.Null(result.Error);
        var records = LogRecords(request).ToList();
        Assert.Equal(64, Attr(records[0].Attributes, "body.hash")!.StringValue.Length);
        Assert.Equal("cache miss for order #####", records[0].Body.StringValue);
        Assert.Equal(["order.id", "http.request.header.authorization", "message"], records[1].Body.KvlistValue.Values.Select(kv => kv.Key));
        Assert.Equal("structured", records[1].Body.KvlistValue.Values[2].Value.StringValue);
        Assert.Equal("WARN", records[2].SeverityText);
    }

    [Fact]
    public void Data_point_paths_read_histograms_and_number_points()
    {
        var request = Metrics();

        var result = Transform(request, Signal.Metrics,
            "set(datapoint.attributes[\"slow\"], true) where datapoint.sum > 1.0 and metric.aggregation_temporality == AGGREGATION_TEMPORALITY_CUMULATIVE",
            "set(datapoint.attributes[\"count\"], datapoint.count) where datapoint.count >= 1",
            "set(datapoint.attributes[\"cpus\"], datapoint.value_int) where datapoint.value_int >= 8");

        Assert.Null(result.Error);
        Assert.Equal(3, result.ItemsIn);
        var metrics = request.ResourceMetrics[0].ScopeMetrics[0].Metrics;
        Assert.Equal([null, true], metrics[0].Histogram.DataPoints.Select(p => Attr(p.Attributes, "slow")?.BoolValue));
        Assert.Equal([3L, 1L], metrics[0].Histogram.DataPoints.Select(p => Attr(p.Attributes, "count")!.IntValue));
        Assert.Equal(8, Attr(metrics[1].Gauge.DataPoints[0].Attributes, "cpus")!.IntValue);
        Assert.Null(Attr(metrics[1].Gauge.DataPoints[0].Attributes, "count"));
    }

    [Fact]
    public void Propagate_stops_at_the_first_evaluation_error_and_reports_it()
    {
        var request = Traces();
        var tenant = Tenant(Signal.Traces, transforms:
        [
            "set(span.attributes[\"h\"], SHA256(span.attributes[\"http.response.status_code\"])) where span.kind == SPAN_KIND_SERVER",
            "set(span.attributes[\"after\"], \"yes\")",
        ]);

        var result = new TenantTransformer().Apply(tenant, Signal.Traces, request);

        Assert.True(result.Failed);
        Assert.Equal("transform statement \"set(span.attributes[\"h\"], SHA256(span.attributes[\"http.response.status_code\"])) where span.kind == SPAN_KIND_SERVER\" failed: SHA256: expected string but got int", result.Error);
        Assert.Equal(1, result.Errors);
        Assert.Equal(4, result.ItemsIn);
        Assert.Equal(0, result.ItemsOut);
        Assert.DoesNotContain(Spans(request), s => Attr(s.Attributes, "after") is not null);
    }

    [Fact]
    public void Ignore_counts_evaluation_errors_and_goes_on()
    {
        var request = Traces();
        var tenant = Tenant(Signal.Traces, mode: TransformErrorMode.Ignore, transforms:
        [
            "set(span.attributes[\"h\"], SHA256(span.attributes[\"http.response.status_code\"])) where span.kind == SPAN_KIND_SERVER",
            "keep_keys(span.attributes[\"url.path\"], [\"a\"])",
            "set(span.attributes[\"after\"], \"yes\")",
        ]);

        var result = new TenantTransformer().Apply(tenant, Signal.Traces, request);

        Assert.False(result.Failed);
        Assert.Equal(3 + 3, result.Errors); // 3 server spans for SHA256 of an int; 3 spans whose url.path is not a map
        Assert.Equal(4, result.ItemsOut);
        Assert.All(Spans(request), s => Assert.Equal("yes", Attr(s.Attributes, "after")!.StringValue));
    }

    [Fact]
    public void A_new_config_version_is_compiled_again_and_the_same_one_is_reused()
    {
        var transformer = new TenantTransformer();
        var v1 = Tenant(Signal.Traces, transforms: ["set(span.attributes[\"v\"], 1)"], version: 1);
        var v2 = Tenant(Signal.Traces, transforms: ["set(span.attributes[\"v\"], 2)"], version: 2);

        var first = Traces();
        transformer.Apply(v1, Signal.Traces, first);
        var second = Traces();
        transformer.Apply(v2, Signal.Traces, second);
        var third = Traces();
        transformer.Apply(v2 with { }, Signal.Traces, third);

        Assert.All(Spans(first), s => Assert.Equal(1, Attr(s.Attributes, "v")!.IntValue));
        Assert.All(Spans(second), s => Assert.Equal(2, Attr(s.Attributes, "v")!.IntValue));
        Assert.All(Spans(third), s => Assert.Equal(2, Attr(s.Attributes, "v")!.IntValue));
    }
}
