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
    public void Set_writes_literals_paths_enums_and_nested_keys()
    {
        var request = Traces();

        var result = Transform(request, Signal.Traces,
            "set(span.attributes[\"env\"], resource.attributes[\"deployment.environment\"])",
            "set(span.attributes[\"copied.method\"], span.attributes[\"http.request.method\"]) where span.kind == SPAN_KIND_SERVER",
            "set(span.status.code, STATUS_CODE_OK) where span.attributes[\"http.response.status_code\"] < 400",
            "set(span.attributes[\"tenant\"][\"id\"], \"acme\")",
            "set(span.attributes[\"ratio\"], 0.25)",
            "set(span.attributes[\"flag\"], true)",
            "set(span.attributes[\"missing\"], span.attributes[\"absent\"])",
            "set(span.name, \"renamed\") where span.name == \"SELECT orders\"");

        Assert.Null(result.Error);
        var health = SpanNamed(request, "GET /health");
        Assert.Equal("prod", Attr(health.Attributes, "env")!.StringValue);
        Assert.Equal("GET", Attr(health.Attributes, "copied.method")!.StringValue);
        Assert.Equal(Status.Types.StatusCode.Ok, health.Status.Code);
        Assert.Equal("acme", Attr(health.Attributes, "tenant")!.KvlistValue.Values.Single(kv => kv.Key == "id").Value.StringValue);
        Assert.Equal(0.25, Attr(health.Attributes, "ratio")!.DoubleValue);
        Assert.True(Attr(health.Attributes, "flag")!.BoolValue);
        Assert.Null(Attr(health.Attributes, "missing")); // set with a nil value changes nothing
        Assert.Equal("staging", Attr(SpanNamed(request, "GET /cart").Attributes, "env")!.StringValue);
        Assert.Equal(Status.Types.StatusCode.Error, SpanNamed(request, "POST /orders/{id}").Status.Code);
        var db = SpanNamed(request, "renamed");
        Assert.Null(Attr(db.Attributes, "copied.method"));
        Assert.Null(db.Status); // no http.response.status_code: nil < 400 is false
    }

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
    public void Delete_key_delete_matching_keys_and_keep_keys_edit_maps()
    {
        var request = Traces();

        Transform(request, Signal.Traces,
            "delete_key(span.attributes, \"user_agent.original\")",
            "delete_matching_keys(resource.attributes, \"^telemetry\\\\.sdk\\\\.\")",
            "keep_keys(span.attributes, [\"http.request.method\", \"url.path\", \"db.system\"])");

        Assert.Equal(["service.name", "service.instance.id", "deployment.environment"], request.ResourceSpans[0].Resource.Attributes.Select(a => a.Key));
        Assert.Equal(["http.request.method", "url.path"], SpanNamed(request, "GET /health").Attributes.Select(a => a.Key));
        Assert.Equal(["db.system"], SpanNamed(request, "SELECT orders").Attributes.Select(a => a.Key));
    }

    [Fact]
    public void Limit_keeps_priority_keys_then_the_first_others()
    {
        var request = Traces();

        Transform(request, Signal.Traces, "limit(span.attributes, 3, [\"http.response.status_code\", \"absent\"])");

        // 7 attributes, limit 3: the present priority key, then the first two others in order.
        Assert.Equal(["http.request.method", "url.path", "http.response.status_code"], SpanNamed(request, "GET /health").Attributes.Select(a => a.Key));
        Assert.Equal(3, SpanNamed(request, "SELECT orders").Attributes.Count);

        var small = Traces();
        Transform(small, Signal.Traces, "limit(span.attributes, 10)");
        Assert.Equal(7, SpanNamed(small, "GET /health").Attributes.Count);
    }

    [Fact]
    public void Truncate_all_cuts_strings_to_utf8_bytes_without_splitting_characters()
    {
        var request = Traces();
        SpanNamed(request, "GET /health").Attributes.Add(Kv("greeting", "héllo wörld"));

        Transform(request, Signal.Traces, "truncate_all(span.attributes, 3)");

        var health = SpanNamed(request, "GET /health");
        Assert.Equal("GET", Attr(health.Attributes, "http.request.method")!.StringValue);
        Assert.Equal("/he", Attr(health.Attributes, "url.path")!.StringValue);
        Assert.Equal("hé", Attr(health.Attributes, "greeting")!.StringValue); // h (1 byte) + é (2 bytes)
        Assert.Equal(200, Attr(health.Attributes, "http.response.status_code")!.IntValue); // not a string: untouched
    }

    [Fact]
    public void Replace_pattern_and_replace_all_patterns_use_groups_and_modes()
    {
        var request = Traces();

        Transform(request, Signal.Traces,
            "replace_pattern(span.attributes[\"url.path\"], \"^/orders/(?P<id>\\\\d+)$\", \"/orders/{id:$1}\")",
            "replace_all_patterns(span.attributes, \"value\", \"shop\\\\.example\\\\.com\", \"example.net\")",
            "replace_all_patterns(span.attributes, \"key\", \"^http\\\\.\", \"h.\")",
            "replace_pattern(span.status.message, \"x\", \"y\")");

        var orders = SpanNamed(request, "POST /orders/{id}");
        Assert.Equal("/orders/{id:12345}", Attr(orders.Attributes, "url.path")!.StringValue);
        Assert.Equal("example.net", Attr(orders.Attributes, "server.address")!.StringValue);
        Assert.Equal(["h.request.method", "url.path", "url.scheme", "h.route", "h.response.status_code", "server.address", "user_agent.original"], orders.Attributes.Select(a => a.Key));
        Assert.Equal(500, Attr(orders.Attributes, "h.response.status_code")!.IntValue);
    }

    [Fact]
    public void Sha256_concat_ismatch_and_isstring_convert_values()
    {
        var request = Traces();

        Transform(request, Signal.Traces,
            "set(span.attributes[\"sha\"], SHA256(\"abc\"))",
            "set(span.attributes[\"key\"], Concat([resource.attributes[\"service.name\"], span.attributes[\"http.request.method\"], span.attributes[\"http.response.status_code\"], span.attributes[\"absent\"]], \"|\"))",
            "set(span.attributes[\"is.api\"], true) where IsMatch(span.attributes[\"http.response.status_code\"], \"^5\\\\d\\\\d$\")",
            "set(span.attributes[\"method.is.string\"], IsString(span.attributes[\"http.request.method\"]))",
            "set(span.attributes[\"status.is.string\"], IsString(span.attributes[\"http.response.status_code\"]))",
            "set(span.attributes[\"trace\"], span.trace_id.string)");

        var orders = SpanNamed(request, "POST /orders/{id}");
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", Attr(orders.Attributes, "sha")!.StringValue);
        Assert.Equal("checkout|POST|500|<nil>", Attr(orders.Attributes, "key")!.StringValue);
        Assert.True(Attr(orders.Attributes, "is.api")!.BoolValue);
        Assert.Null(Attr(SpanNamed(request, "GET /health").Attributes, "is.api"));
        Assert.True(Attr(orders.Attributes, "method.is.string")!.BoolValue);
        Assert.False(Attr(orders.Attributes, "status.is.string")!.BoolValue);
        Assert.Equal("02030405060708090a0b0c0d0e0f1011", Attr(orders.Attributes, "trace")!.StringValue);
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
