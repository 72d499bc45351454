using OpenTelemetry.Proto.Trace.V1;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Pipeline.Ottl;
using ServerlessOtlp.Pipeline.Ottl.Functions;
using ServerlessOtlp.Tenants;
using static ServerlessOtlp.Tests.Pipeline.OttlTestData;

namespace ServerlessOtlp.Tests.Pipeline;

/// <summary>
/// The OTTL functions (Pipeline/Ottl/Functions, one file each) and their registry: what each does
/// to SDK-shaped data. A new function gets its test here; its compile-time refusals go beside the
/// others in <see cref="OttlParserTests.The_validator_type_checks_for_the_context"/>.
/// </summary>
public class OttlFunctionTests
{
    [Fact]
    public void Editors_are_lower_case_and_converters_upper_case_as_the_grammar_tells_them_apart()
    {
        Assert.NotEmpty(OttlFunctionRegistry.All);
        Assert.All(OttlFunctionRegistry.All, f => Assert.Equal(f is OttlEditor, char.IsLower(f.Name[0])));
        Assert.All(OttlFunctionRegistry.All, f => Assert.True(f is OttlEditor or OttlConverter, f.Name + " is neither an editor nor a converter"));
        Assert.Equal(OttlFunctionRegistry.All.Count, OttlFunctionRegistry.All.Select(f => f.Name).Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public void Every_registered_function_is_found_by_the_compiler_and_checks_its_arity()
    {
        foreach (var function in OttlFunctionRegistry.All)
        {
            // A call without arguments: the compiler finds the function and refuses the call for what it misses.
            string statement = function is OttlEditor ? $"{function.Name}()" : $"set(span.name, {function.Name}())";
            string? problem = new OttlValidator().Validate(statement, OttlContexts.TransformTraces);
            Assert.NotNull(problem);
            Assert.Contains($"{function.Name} expects ", problem, StringComparison.Ordinal);
            Assert.Contains($"(missing {function.Params[0].Name})", problem, StringComparison.Ordinal);
        }
    }

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
}
