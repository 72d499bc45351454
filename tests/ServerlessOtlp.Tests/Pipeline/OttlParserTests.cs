using ServerlessOtlp.Otlp;
using ServerlessOtlp.Pipeline.Ottl;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Tests.Pipeline;

public class OttlParserTests
{
    [Fact]
    public void A_statement_parses_into_an_editor_call_and_its_where_condition()
    {
        var syntax = OttlParser.ParseStatement("set(span.attributes[\"env\"], \"prod\") where resource.attributes[\"k8s.namespace.name\"] == \"prod\" and not span.kind == SPAN_KIND_CLIENT");

        Assert.Equal("set", syntax.Editor.Name);
        Assert.True(syntax.Editor.IsEditor);
        var target = Assert.IsType<OttlPath>(syntax.Editor.Arguments[0].Value);
        Assert.Equal(["span", "attributes"], target.Segments);
        Assert.Equal(["env"], target.Keys);
        Assert.Equal(5, target.Column);
        Assert.Equal(new OttlLiteral("prod", 29), syntax.Editor.Arguments[1].Value);

        var and = Assert.IsType<OttlAnd>(syntax.Where);
        var left = Assert.IsType<OttlComparison>(and.Left);
        Assert.Equal(OttlCompareOp.Equal, left.Op);
        Assert.Equal(43, left.Column);
        var not = Assert.IsType<OttlNot>(and.Right);
        var right = Assert.IsType<OttlComparison>(not.Operand);
        Assert.Equal(new OttlEnum("SPAN_KIND_CLIENT", 116), right.Right);
    }

    [Theory]
    [InlineData("\"a \\\"quoted\\\" \\\\ \\n \\u00e9\"", "a \"quoted\" \\ \n é")]
    [InlineData("42", 42L)]
    [InlineData("-7", -7L)]
    [InlineData("1.5", 1.5)]
    [InlineData("-0.25", -0.25)]
    [InlineData("1e3", 1000.0)]
    [InlineData("true", true)]
    [InlineData("false", false)]
    [InlineData("nil", null)]
    public void Literals_parse_to_their_values(string literal, object? expected)
    {
        var comparison = Assert.IsType<OttlComparison>(OttlParser.ParseCondition("span.name == " + literal));
        Assert.Equal(expected, Assert.IsType<OttlLiteral>(comparison.Right).Value);
    }

    [Fact]
    public void Bytes_lists_converters_and_named_arguments_parse()
    {
        var comparison = Assert.IsType<OttlComparison>(OttlParser.ParseCondition("span.trace_id == 0x0102ff"));
        Assert.Equal(new byte[] { 1, 2, 0xff }, Assert.IsType<OttlLiteral>(comparison.Right).Value);

        var limit = OttlParser.ParseStatement("limit(target = span.attributes, limit = 10, priority_keys = [\"a\", \"b\"])").Editor;
        Assert.Equal(["target", "limit", "priority_keys"], limit.Arguments.Select(a => a.Name));
        Assert.Equal(2, Assert.IsType<OttlList>(limit.Arguments[2].Value).Items.Count);

        var set = OttlParser.ParseStatement("set(attributes[\"id\"], Concat([name, SHA256(attributes[\"user\"])], \"-\"))").Editor;
        var concat = Assert.IsType<OttlCall>(set.Arguments[1].Value);
        Assert.False(concat.IsEditor);
        Assert.IsType<OttlCall>(Assert.IsType<OttlList>(concat.Arguments[0].Value).Items[1]);

        Assert.IsType<OttlList>(Assert.IsType<OttlComparison>(OttlParser.ParseCondition("span.attributes[\"l\"] == []")).Right);
        Assert.Equal([0L, "k"], Assert.IsType<OttlPath>(Assert.IsType<OttlComparison>(OttlParser.ParseCondition("log.body[0][\"k\"] != nil")).Left).Keys);
    }

    [Fact]
    public void Or_binds_looser_than_and_and_parentheses_group()
    {
        var or = Assert.IsType<OttlOr>(OttlParser.ParseCondition("span.name == \"a\" or span.name == \"b\" and span.kind == 2"));
        Assert.IsType<OttlComparison>(or.Left);
        Assert.IsType<OttlAnd>(or.Right);

        var and = Assert.IsType<OttlAnd>(OttlParser.ParseCondition("(span.name == \"a\" or span.name == \"b\") and span.kind == 2"));
        Assert.IsType<OttlOr>(and.Left);

        var bools = Assert.IsType<OttlOr>(OttlParser.ParseCondition("IsMatch(span.name, \"^GET\") or not true"));
        Assert.IsType<OttlBoolValue>(bools.Left);
        Assert.IsType<OttlNot>(bools.Right);
    }

    [Theory]
    [InlineData("<", OttlCompareOp.Less)]
    [InlineData("<=", OttlCompareOp.LessOrEqual)]
    [InlineData(">", OttlCompareOp.Greater)]
    [InlineData(">=", OttlCompareOp.GreaterOrEqual)]
    [InlineData("==", OttlCompareOp.Equal)]
    [InlineData("!=", OttlCompareOp.NotEqual)]
    public void Every_comparison_operator_parses(string op, OttlCompareOp expected)
    {
        var comparison = Assert.IsType<OttlComparison>(OttlParser.ParseCondition($"span.kind {op} 2"));
        Assert.Equal(expected, comparison.Op);
        Assert.Equal(11, comparison.OpColumn);
    }

    // Invalid statements: the reason and the exact column (1-based offset in the statement).
    [Theory]
    [InlineData("bad(", 5, "expected an argument or ')'")]
    [InlineData("set(span.name, \"x\"", 19, "expected ',' or ')'")]
    [InlineData("set(span.name \"x\")", 15, "expected ',' or ')'")]
    [InlineData("set(span.name, )", 16, "expected an argument")]
    [InlineData("set(span.name, \"x) where", 16, "unterminated string")]
    [InlineData("set(span.name, \"x\") where", 26, "expected a condition")]
    [InlineData("set(span.name, \"x\") junk", 21, "expected 'where' or the end of the statement")]
    [InlineData("set(span.attributes[1.5], 1)", 21, "expected a string key or an int index")]
    [InlineData("set(span.attributes[\"k\", 1)", 24, "expected ']'")]
    [InlineData("set(span., 1)", 10, "expected a path segment after '.'")]
    [InlineData("keep_keys(span.attributes, [\"a\" \"b\"])", 33, "expected ',' or ']'")]
    [InlineData("set(span.name, 0x123)", 16, "expected an even number of hexadecimal digits after 0x")]
    [InlineData("set(span.name, 99999999999999999999)", 16, "integer '99999999999999999999' does not fit in 64 bits")]
    [InlineData("span.name == \"x\"", 1, "expected an editor call such as set(...) (a condition belongs in filters, when or after where)")]
    public void Invalid_statements_are_refused_with_their_column(string statement, int column, string reason)
    {
        var ex = Assert.Throws<OttlParseException>(() => OttlParser.ParseStatement(statement));
        Assert.Equal(reason, ex.Reason);
        Assert.Equal(column, ex.Column);
        Assert.Equal($"{reason} at column {column}", ex.Message);
    }

    [Theory]
    [InlineData("span.name ==", 13, "expected a value after ==")]
    [InlineData("span.name = \"x\"", 11, "expected a comparison operator (==, !=, <, <=, >, >=) after span.name")]
    [InlineData("span.name == \"a\" and", 21, "expected a condition")]
    [InlineData("(span.name == \"a\"", 18, "expected ')'")]
    [InlineData("span.name == \"a\")", 17, "unexpected ')'")]
    [InlineData("span.name == \"a\" && span.kind == 2", 18, "unexpected character '&'")]
    [InlineData("span.name == where", 14, "expected a value after ==, got the keyword 'where'")]
    [InlineData("", 1, "expected a condition")]
    [InlineData("set(span.name, \"x\")", 1, "expected a condition, got a call of the editor set(...) (editors belong in transforms)")]
    public void Invalid_conditions_are_refused_with_their_column(string condition, int column, string reason)
    {
        var ex = Assert.Throws<OttlParseException>(() => OttlParser.ParseCondition(condition));
        Assert.Equal(reason, ex.Reason);
        Assert.Equal(column, ex.Column);
    }

    // Type checks at compile time, through the validator tenant files use: line:column: reason.
    [Theory]
    [InlineData(OttlContexts.TransformTraces, "set(span.nme, \"x\")", "1:5: unknown path span.nme; span has attributes, dropped_attributes_count, dropped_events_count, dropped_links_count, end_time_unix_nano, kind, name, parent_span_id, parent_span_id.string, span_id, span_id.string, start_time_unix_nano, status.code, status.message, trace_id, trace_id.string, trace_state")]
    [InlineData(OttlContexts.TransformTraces, "frobnicate(span.name)", "1:1: unknown function frobnicate; editors: set, delete_key, delete_matching_keys, keep_keys, limit, truncate_all, replace_pattern, replace_all_patterns; converters: SHA256, Concat, IsMatch, IsString")]
    [InlineData(OttlContexts.TransformTraces, "set(span.name)", "1:1: set expects 2 arguments, got 1 (missing value)")]
    [InlineData(OttlContexts.TransformTraces, "set(span.name, \"a\", \"b\")", "1:21: set expects 2 arguments, got 3")]
    [InlineData(OttlContexts.TransformTraces, "limit(span.attributes)", "1:1: limit expects 2 to 3 arguments, got 1 (missing limit)")]
    [InlineData(OttlContexts.TransformTraces, "set(span.name, 5)", "1:16: span.name is a string; it cannot be set to an int")]
    [InlineData(OttlContexts.TransformTraces, "set(span.kind, \"server\")", "1:16: span.kind is an int; it cannot be set to a string")]
    [InlineData(OttlContexts.TransformTraces, "set(span.attributes, \"x\")", "1:22: span.attributes is a map; it cannot be set to a string")]
    [InlineData(OttlContexts.TransformMetrics, "set(metric.type, 1)", "1:5: set: metric.type cannot be set")]
    [InlineData(OttlContexts.TransformTraces, "set(\"x\", span.name)", "1:5: set: the target must be a path such as span.attributes[\"key\"]")]
    [InlineData(OttlContexts.TransformTraces, "set(log.body, \"x\")", "1:5: log.body: the log context is not available for traces (contexts: resource, scope, span, spanevent)")]
    [InlineData(OttlContexts.TransformLogs, "SHA256(body)", "1:1: SHA256 is a converter; a statement starts with an editor such as set(...)")]
    [InlineData(OttlContexts.TransformTraces, "set(span.name, delete_key(span.attributes, \"a\"))", "1:16: delete_key is an editor and returns no value; use a converter such as Concat or SHA256 here")]
    [InlineData(OttlContexts.TransformTraces, "keep_keys(span.name, [\"a\"])", "1:11: keep_keys: span.name is a string, not a map")]
    [InlineData(OttlContexts.TransformTraces, "delete_key(span.attributes, span.name)", "1:29: delete_key: expected a string literal")]
    [InlineData(OttlContexts.TransformTraces, "keep_keys(span.attributes, \"a\")", "1:28: keep_keys: expected a list of strings such as [\"a\", \"b\"]")]
    [InlineData(OttlContexts.TransformTraces, "limit(span.attributes, 1, [\"a\", \"b\"])", "1:24: limit: the limit 1 is less than the number of priority keys (2)")]
    [InlineData(OttlContexts.TransformTraces, "truncate_all(span.attributes, -1)", "1:31: truncate_all: the limit must not be negative, got -1")]
    [InlineData(OttlContexts.TransformTraces, "replace_all_patterns(span.attributes, \"both\", \"a\", \"b\")", "1:39: replace_all_patterns: mode must be \"key\" or \"value\", got \"both\"")]
    [InlineData(OttlContexts.TransformTraces, "set(span.name, \"x\") where span.name.length == 1", "1:27: unknown path span.name.length; span has attributes, dropped_attributes_count, dropped_events_count, dropped_links_count, end_time_unix_nano, kind, name, parent_span_id, parent_span_id.string, span_id, span_id.string, start_time_unix_nano, status.code, status.message, trace_id, trace_id.string, trace_state")]
    [InlineData(OttlContexts.TransformTraces, "set(span.name[\"a\"], \"x\")", "1:5: span.name[\"a\"]: span.name is a string and has no keys")]
    [InlineData(OttlContexts.FilterTraces, "IsMatch(span.name, \"(\")", "1:20: IsMatch: invalid regular expression: Invalid pattern '(' at offset 1. Not enough )'s.")]
    [InlineData(OttlContexts.FilterTraces, "SHA256(span.name)", "1:1: SHA256 returns a string, not a bool; compare it with ==, !=, <, <=, > or >=")]
    [InlineData(OttlContexts.FilterTraces, "span.kind == SPAN_KIND_SERVERX", "1:14: unknown enum symbol SPAN_KIND_SERVERX")]
    [InlineData(OttlContexts.FilterLogs, "set(log.body, \"x\")", "1:1: expected a condition, got a call of the editor set(...) (editors belong in transforms)")]
    [InlineData(OttlContexts.TransformLogs, "log.severity_number < SEVERITY_NUMBER_INFO", "1:1: expected an editor call such as set(...) (a condition belongs in filters, when or after where)")]
    [InlineData(OttlContexts.WhenMetrics, "span.name == \"x\"", "1:1: span.name: the span context is not available for metrics (contexts: resource, scope, metric, datapoint)")]
    [InlineData(OttlContexts.TransformTraces, "limit(span.attributes, limit = 2, span.attributes)", "1:35: a positional argument cannot follow a named one")]
    [InlineData(OttlContexts.TransformTraces, "limit(span.attributes, lim = 2)", "1:30: limit has no parameter named lim")]
    public void The_validator_type_checks_for_the_context(string context, string statement, string expected)
    {
        Assert.Equal(expected, new OttlValidator().Validate(statement, context));
    }

    [Theory]
    [InlineData(OttlContexts.TransformTraces, "set(span.attributes[\"env\"], \"prod\") where resource.attributes[\"k8s.namespace.name\"] == \"prod\"")]
    [InlineData(OttlContexts.TransformTraces, "set(attributes[\"n\"], name) where kind == SPAN_KIND_SERVER and status.code != STATUS_CODE_ERROR")]
    [InlineData(OttlContexts.TransformTraces, "set(spanevent.attributes[\"span\"], span.name) where spanevent.name == \"exception\"")]
    [InlineData(OttlContexts.TransformTraces, "set(scope.attributes[\"x\"], instrumentation_scope.name)")]
    [InlineData(OttlContexts.TransformTraces, "replace_pattern(span.name, \"/orders/(?P<id>\\\\d+)\", \"/orders/{id}\")")]
    [InlineData(OttlContexts.TransformLogs, "set(attributes[\"level\"], severity_text) where severity_number >= SEVERITY_NUMBER_WARN")]
    [InlineData(OttlContexts.TransformLogs, "set(log.body[\"nested\"][\"k\"], 1)")]
    [InlineData(OttlContexts.TransformMetrics, "set(attributes[\"metric\"], metric.name) where metric.type == METRIC_DATA_TYPE_HISTOGRAM")]
    [InlineData(OttlContexts.TransformMetrics, "set(datapoint.value_double, 1.5)")]
    [InlineData(OttlContexts.FilterTraces, "span.attributes[\"url.path\"] == \"/health\" or IsString(span.attributes[\"x\"])")]
    [InlineData(OttlContexts.FilterMetrics, "metric.name == \"up\"")]
    [InlineData(OttlContexts.WhenLogs, "resource.attributes[\"deployment.environment\"] == \"prod\"")]
    public void Valid_statements_pass_the_validator(string context, string statement)
    {
        Assert.Null(new OttlValidator().Validate(statement, context));
    }

    [Fact]
    public void The_statement_context_is_the_deepest_one_its_paths_name()
    {
        Assert.Equal(OttlContextKind.Resource, OttlCompiler.CompileStatement("set(resource.attributes[\"a\"], \"b\")", Signal.Traces).Context);
        Assert.Equal(OttlContextKind.Scope, OttlCompiler.CompileStatement("set(scope.name, \"b\") where resource.attributes[\"a\"] == nil", Signal.Logs).Context);
        Assert.Equal(OttlContextKind.Span, OttlCompiler.CompileStatement("set(resource.attributes[\"a\"], \"b\") where span.name == \"x\"", Signal.Traces).Context);
        Assert.Equal(OttlContextKind.Span, OttlCompiler.CompileStatement("set(attributes[\"a\"], \"b\")", Signal.Traces).Context);
        Assert.Equal(OttlContextKind.SpanEvent, OttlCompiler.CompileStatement("set(span.name, spanevent.name)", Signal.Traces).Context);
        Assert.Equal(OttlContextKind.DataPoint, OttlCompiler.CompileStatement("set(attributes[\"a\"], metric.name)", Signal.Metrics).Context);
        Assert.Equal(OttlContextKind.Metric, OttlCompiler.CompileCondition("metric.name == \"a\"", Signal.Metrics).Context);
        Assert.Equal(OttlContextKind.Log, OttlCompiler.CompileCondition("true", Signal.Logs).Context);
    }
}
