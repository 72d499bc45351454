using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Export.Loki;
using ServerlessOtlp.Export.Otlp;
using ServerlessOtlp.Export.PrometheusRemoteWrite;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Tests.Tenants;

public sealed class TenantFileParserTests
{
    // The example of CONTRACTS.md, "Tenant file", verbatim. Its absolute file path is what `otlpctl dev`
    // accepts without a file root (TenantFileRules.AnyPath); a deployment refuses it (TenantFileSecurityTests).
    private const string ContractsExample = """
        { "tenants": [ {
            "id": "acme",
            "apiKeys": ["plain key; stored as a SHA-256 hash"],
            "limits": { "itemsPerSecond": 200000 },
            "sampling": { "traces": { "mode": "proportional", "samplingPercentage": 10 },
                          "tail": { "decisionWait": "10s", "policies": [] } },
            "transforms": { "traces": ["OTTL statement"], "metrics": [], "logs": [] },
            "filters":    { "traces": ["OTTL condition; matching items are dropped"] },
            "destinations": [
              { "name": "files", "kind": "file", "signals": ["traces", "metrics", "logs"], "path": "/var/otlp/acme" },
              { "name": "tempo", "kind": "otlphttp", "signals": ["traces"], "endpoint": "http://tempo:4318",
                "headers": { "X-Scope-OrgID": "acme" }, "when": "optional OTTL condition" },
              { "name": "prom", "kind": "prometheusremotewrite", "signals": ["metrics"], "endpoint": "http://prometheus:9090/api/v1/write" },
              { "name": "loki", "kind": "loki", "signals": ["logs"], "endpoint": "http://loki:3100/loki/api/v1/push" },
              { "name": "jaeger", "kind": "otlp", "signals": ["traces"], "endpoint": "http://jaeger:4317" } ]
        } ] }
        """;

    private const string Key1 = "0123456789abcdef-key-one";
    private const string Key2 = "0123456789abcdef-key-two";

    [Fact]
    public void The_contracts_example_parses_into_the_model()
    {
        var file = TenantFileParser.Parse(ContractsExample, "tenants.json", Placeholders, TenantFileRules.AnyPath);

        var acme = Assert.Single(file.Tenants);
        Assert.Equal("acme", acme.Id);
        Assert.Equal(["plain key; stored as a SHA-256 hash"], acme.ApiKeys);
        Assert.Equal(200000, acme.Limits!.ItemsPerSecond);
        Assert.Equal(SamplingMode.Proportional, acme.Sampling!.Traces!.Mode);
        Assert.Equal(10, acme.Sampling.Traces.SamplingPercentage);
        Assert.Equal(4, acme.Sampling.Traces.Precision);
        Assert.Equal(TimeSpan.FromSeconds(10), acme.Sampling.Tail!.DecisionWait);
        Assert.Empty(acme.Sampling.Tail.Policies);
        Assert.Equal(["OTTL statement"], acme.Transforms!.Traces);
        Assert.Equal(["OTTL condition; matching items are dropped"], acme.Filters!.For(Signal.Traces));
        Assert.Empty(acme.Filters.Metrics);
        Assert.Equal(TransformErrorMode.Propagate, acme.TransformErrorMode);

        Assert.Equal(["files", "tempo", "prom", "loki", "jaeger"], acme.Destinations.Select(d => d.Name));
        Assert.Equal(
            [FileDestination.KindName, OtlpHttpDestination.KindName, RemoteWriteDestination.KindName, LokiDestination.KindName, OtlpDestination.KindName],
            acme.Destinations.Select(d => d.Kind));
        Assert.Equal([Signal.Traces, Signal.Metrics, Signal.Logs], acme.Destinations[0].Signals);
        Assert.Equal("/var/otlp/acme", FileDestination.SettingsOf(acme.Destinations[0]).Path);
        Assert.Equal("http://tempo:4318", acme.Destinations[1].Endpoint);
        Assert.Equal("acme", acme.Destinations[1].Headers["X-Scope-OrgID"]);
        Assert.Equal("optional OTTL condition", acme.Destinations[1].When);
    }

    [Fact]
    public void Every_optional_field_parses()
    {
        string json = """
            // comments and trailing commas are allowed
            { "tenants": [ {
                "id": "acme",
                "sampling": {
                  "traces": { "mode": "equalizing", "samplingPercentage": 0.5, "precision": 6 },
                  "tail": { "decisionWait": "30s", "policies": [
                    { "name": "errors", "type": "status_code", "statusCode": { "statusCodes": ["ERROR"] } },
                    { "name": "slow", "type": "latency", "latency": { "threshold": "500ms", "upperThreshold": "1m" } },
                    { "name": "both", "type": "and", "and": { "policies": [
                      { "name": "checkout", "type": "string_attribute", "stringAttribute": { "key": "service.name", "values": ["check.*"], "enabledRegexMatching": true } },
                      { "name": "big", "type": "span_count", "spanCount": { "minSpans": 10 } } ] } },
                    { "name": "some", "type": "probabilistic", "probabilistic": { "samplingPercentage": 1 } },
                    { "name": "cap", "type": "rate_limiting", "rateLimiting": { "spansPerSecond": 1000 } },
                    { "name": "users", "type": "numeric_attribute", "numericAttribute": { "key": "user.id", "minValue": 1 } },
                    { "name": "all", "type": "always_sample" },
                  ] }
                },
                "transformErrorMode": "ignore",
                "redaction": ["credentials", "card-numbers", "emails"],
                "destinations": [ {
                  "name": "tempo", "kind": "otlphttp", "endpoint": "https://tempo.example.com",
                  "headers": { "Authorization": "secret:tempo-token", "X-Scope-OrgID": "acme" },
                  "timeout": "5s",
                  "retry": { "initialInterval": "100ms", "maxInterval": "5s", "maxElapsed": "1m30s" },
                  "batch": { "maxItems": 8192, "maxBytes": 4000000, "flushInterval": "200ms" },
                  "compression": "gzip"
                }, {
                  "name": "loki", "kind": "loki", "endpoint": "http://loki:3100/loki/api/v1/push",
                  "lokiLabels": ["service.name", "deployment.environment"]
                } ]
            } ] }
            """;

        var tenant = Assert.Single(TenantFileParser.Parse(json, "full.json").Tenants);

        Assert.Equal(new TraceSamplingConfig { Mode = SamplingMode.Equalizing, SamplingPercentage = 0.5, Precision = 6 }, tenant.Sampling!.Traces);
        var policies = tenant.Sampling.Tail!.Policies;
        Assert.Equal(TimeSpan.FromSeconds(30), tenant.Sampling.Tail.DecisionWait);
        Assert.Equal(7, policies.Count);
        Assert.Equal([SpanStatusCode.Error], policies[0].StatusCode!.StatusCodes);
        Assert.Equal(TimeSpan.FromMilliseconds(500), policies[1].Latency!.Threshold);
        Assert.Equal(2, policies[2].And!.Policies.Count);
        Assert.Equal(TailPolicyType.AlwaysSample, policies[6].Type);
        Assert.Equal(TransformErrorMode.Ignore, tenant.TransformErrorMode);
        Assert.Equal([RedactionPreset.Credentials, RedactionPreset.CardNumbers, RedactionPreset.Emails], tenant.Redaction);
        Assert.Null(tenant.ApiKeys);

        var tempo = tenant.Destinations[0];
        Assert.Equal([Signal.Traces, Signal.Metrics, Signal.Logs], tempo.Signals); // defaulted from the kind
        Assert.True(SecretReference.TryParse(tempo.Headers["Authorization"], out string secret));
        Assert.Equal("tempo-token", secret);
        Assert.Equal(TimeSpan.FromSeconds(5), tempo.Timeout);
        Assert.Equal(TimeSpan.FromSeconds(90), tempo.Retry!.MaxElapsed);
        Assert.Equal(8192, tempo.Batch!.MaxItems);
        Assert.Equal(DestinationCompression.Gzip, tempo.Compression);
        Assert.Equal([Signal.Logs], tenant.Destinations[1].Signals);
        Assert.Equal(["service.name", "deployment.environment"], LokiDestination.SettingsOf(tenant.Destinations[1]).Labels);
    }

    [Fact]
    public void A_stored_config_round_trips_without_its_keys()
    {
        var tenant = TenantFileParser.Parse(ContractsExample, "tenants.json", Placeholders, TenantFileRules.AnyPath).Tenants[0];

        string stored = TenantJson.SerializeForStore(tenant);
        var back = TenantJson.DeserializeStored(stored);

        Assert.DoesNotContain("plain key", stored, StringComparison.Ordinal);
        Assert.DoesNotContain("apiKeys", stored, StringComparison.Ordinal);
        Assert.Contains("\"decisionWait\":\"10s\"", stored, StringComparison.Ordinal);
        Assert.Contains("\"kind\":\"prometheusremotewrite\"", stored, StringComparison.Ordinal);
        Assert.Null(back.ApiKeys);
        Assert.Equal(TenantJson.SerializeForStore(back), stored);
        Assert.Empty(TenantFileParser.Validate(new TenantFile { Tenants = [back] }, Placeholders, TenantFileRules.AnyPath));
    }

    public static TheoryData<string, string, string> InvalidCases() => new()
    {
        // json fragment of one tenant, expected path, expected message fragment
        { """{ "id": "a/b" }""", "tenants[0].id", "\"a/b\" is not a valid tenant id" },
        { """{ "id": ".." }""", "tenants[0].id", "\"..\" is not a valid tenant id" },
        { $$"""{ "id": "{{new string('x', 151)}}" }""", "tenants[0].id", "not a valid tenant id" },
        { """{ "apiKeys": ["x"] }""", "tenants[0].id", "is required" },
        { """{ "id": "a", "apiKeys": ["short"] }""", "tenants[0].apiKeys[0]", "at least 16 characters" },
        { """{ "id": "a", "apiKeys": [""] }""", "tenants[0].apiKeys[0]", "at least 16 characters" },
        { """{ "id": "a", "limits": { "itemsPerSecond": 0 } }""", "tenants[0].limits.itemsPerSecond", "greater than 0" },
        { """{ "id": "a", "limits": { "itemsPerSecond": 1.5 } }""", "tenants[0].limits.itemsPerSecond", "expected an integer" },
        { """{ "id": "a", "sampling": { "traces": { "samplingPercentage": 101 } } }""", "tenants[0].sampling.traces.samplingPercentage", "between 0 and 100" },
        { """{ "id": "a", "sampling": { "traces": { "samplingPercentage": -1 } } }""", "tenants[0].sampling.traces.samplingPercentage", "between 0 and 100" },
        { """{ "id": "a", "sampling": { "traces": { "samplingPercentage": "10" } } }""", "tenants[0].sampling.traces.samplingPercentage", "expected a number, got a string" },
        { """{ "id": "a", "sampling": { "traces": { "samplingPercentage": 10, "precision": 15 } } }""", "tenants[0].sampling.traces.precision", "between 1 and 14" },
        { """{ "id": "a", "sampling": { "traces": { "samplingPercentage": 10, "precision": 0 } } }""", "tenants[0].sampling.traces.precision", "between 1 and 14" },
        { """{ "id": "a", "sampling": { "traces": { "mode": "Proportional", "samplingPercentage": 10 } } }""", "tenants[0].sampling.traces.mode", "unknown mode \"Proportional\"; expected one of proportional, equalizing" },
        { """{ "id": "a", "sampling": { "traces": { "mode": "equalizing" } } }""", "tenants[0].sampling.traces.samplingPercentage", "is required" },
        { """{ "id": "a", "sampling": { "tail": { "decisionWait": "10" } } }""", "tenants[0].sampling.tail.decisionWait", "invalid duration \"10\"" },
        { """{ "id": "a", "sampling": { "tail": { "policies": [ { "name": "x", "type": "latency" } ] } } }""", "tenants[0].sampling.tail.policies[0].latency", "is required for type \"latency\"" },
        { """{ "id": "a", "sampling": { "tail": { "policies": [ { "name": "x", "type": "always_sample", "probabilistic": { "samplingPercentage": 1 } } ] } } }""", "tenants[0].sampling.tail.policies[0].probabilistic", "does not belong" },
        { """{ "id": "a", "sampling": { "tail": { "policies": [ { "name": "x", "type": "string_attribute", "stringAttribute": { "key": "k", "values": ["("], "enabledRegexMatching": true } } ] } } }""", "tenants[0].sampling.tail.policies[0].stringAttribute.values[0]", "invalid regular expression" },
        { """{ "id": "a", "sampling": { "tail": { "policies": [ { "name": "c", "type": "composite", "composite": { "maxTotalSpansPerSecond": 0, "subPolicies": [ { "name": "all", "type": "always_sample" } ] } } ] } } }""", "tenants[0].sampling.tail.policies[0].composite.maxTotalSpansPerSecond", "greater than 0" },
        { """{ "id": "a", "sampling": { "tail": { "policies": [ { "name": "c", "type": "composite", "composite": { "maxTotalSpansPerSecond": 10 } } ] } } }""", "tenants[0].sampling.tail.policies[0].composite.subPolicies", "at least one policy" },
        { """{ "id": "a", "sampling": { "tail": { "policies": [ { "name": "c", "type": "composite", "composite": { "maxTotalSpansPerSecond": 10, "policyOrder": ["nope"], "subPolicies": [ { "name": "all", "type": "always_sample" } ] } } ] } } }""", "tenants[0].sampling.tail.policies[0].composite.policyOrder[0]", "no sub-policy is named \"nope\"" },
        { """{ "id": "a", "sampling": { "tail": { "policies": [ { "name": "c", "type": "composite", "composite": { "maxTotalSpansPerSecond": 10, "subPolicies": [ { "name": "all", "type": "always_sample" } ], "rateAllocation": [ { "policy": "x", "percent": 10 } ] } } ] } } }""", "tenants[0].sampling.tail.policies[0].composite.rateAllocation[0].policy", "no sub-policy is named \"x\"" },
        { """{ "id": "a", "sampling": { "tail": { "policies": [ { "name": "c", "type": "composite", "composite": { "maxTotalSpansPerSecond": 10, "subPolicies": [ { "name": "all", "type": "always_sample" } ], "rateAllocation": [ { "policy": "all", "percent": 101 } ] } } ] } } }""", "tenants[0].sampling.tail.policies[0].composite.rateAllocation[0].percent", "between 0 and 100" },
        { """{ "id": "a", "sampling": { "tail": { "policies": [ { "name": "c", "type": "composite", "composite": { "maxTotalSpansPerSecond": 10, "subPolicies": [ { "name": "a", "type": "always_sample" }, { "name": "b", "type": "always_sample" } ], "rateAllocation": [ { "policy": "a", "percent": 60 }, { "policy": "b", "percent": 50 } ] } } ] } } }""", "tenants[0].sampling.tail.policies[0].composite.rateAllocation", "sum to at most 100, got 110" },
        { """{ "id": "a", "sampling": { "tail": { "policies": [ { "name": "c", "type": "composite", "composite": { "maxTotalSpansPerSecond": 10, "subPolicies": [ { "name": "a", "type": "always_sample" }, { "name": "a", "type": "always_sample" } ] } } ] } } }""", "tenants[0].sampling.tail.policies[0].composite.subPolicies[1].name", "duplicate policy name" },
        { """{ "id": "a", "sampling": { "tail": { "policies": [ { "name": "c", "type": "composite", "composite": { "maxTotalSpansPerSecond": 10, "subPolicies": [ { "name": "l", "type": "latency" } ] } } ] } } }""", "tenants[0].sampling.tail.policies[0].composite.subPolicies[0].latency", "is required for type \"latency\"" },
        { """{ "id": "a", "sampling": { "tail": { "policies": [ { "name": "c", "type": "composite", "composite": { "maxTotalSpansPerSecond": 10, "subPolicies": [ { "name": "n", "type": "composite", "composite": { "maxTotalSpansPerSecond": 1, "subPolicies": [ { "name": "all", "type": "always_sample" } ] } } ] } } ] } } }""", "tenants[0].sampling.tail.policies[0].composite.subPolicies[0].type", "cannot be nested inside \"composite\"" },
        { """{ "id": "a", "sampling": { "tail": { "policies": [ { "name": "x", "type": "and", "and": { "policies": [ { "name": "c", "type": "composite", "composite": { "maxTotalSpansPerSecond": 1, "subPolicies": [ { "name": "all", "type": "always_sample" } ] } } ] } } ] } } }""", "tenants[0].sampling.tail.policies[0].and.policies[0].type", "cannot be nested inside \"and\"" },
        { """{ "id": "a", "sampling": { "tail": { "policies": [ { "name": "x", "type": "composite" } ] } } }""", "tenants[0].sampling.tail.policies[0].composite", "is required for type \"composite\"" },
        { """{ "id": "a", "transforms": { "traces": [""] } }""", "tenants[0].transforms.traces[0]", "OTTL statement must not be empty" },
        { """{ "id": "a", "filters": { "logs": ["  "] } }""", "tenants[0].filters.logs[0]", "OTTL condition must not be empty" },
        { """{ "id": "a", "transforms": { "spans": [] } }""", "tenants[0].transforms.spans", "unknown field \"spans\"; expected one of traces, metrics, logs" },
        { """{ "id": "a", "transformErrorMode": "silent" }""", "tenants[0].transformErrorMode", "unknown transformErrorMode \"silent\"; expected one of ignore, propagate" },
        { """{ "id": "a", "redaction": ["ssn"] }""", "tenants[0].redaction[0]", "expected one of credentials, card-numbers, emails" },
        { """{ "id": "a", "destinatons": [] }""", "tenants[0].destinatons", "unknown field \"destinatons\"; did you mean \"destinations\"?" },
        { """{ "id": "a", "ApiKeys": [] }""", "tenants[0].ApiKeys", "did you mean \"apiKeys\"?" },
        { """{ "id": "a", "version": 3 }""", "tenants[0].version", "unknown field \"version\"" },
        { """{ "id": "a", "limits": null }""", "tenants[0].limits", "null is not allowed" },
        { """{ "id": "a", "destinations": [ { "name": "p", "kind": "promethues", "endpoint": "http://p" } ] }""", "tenants[0].destinations[0].kind", "unknown kind \"promethues\"; expected one of otlp, otlphttp, prometheusremotewrite, loki, file" },
        { """{ "id": "a", "destinations": [ { "name": "p", "endpoint": "http://p" } ] }""", "tenants[0].destinations[0].kind", "is required" },
        { """{ "id": "a", "destinations": [ { "name": "p", "kind": "otlp", "signals": ["spans"], "endpoint": "http://p" } ] }""", "tenants[0].destinations[0].signals[0]", "unknown signal \"spans\"; expected one of traces, metrics, logs" },
        { """{ "id": "a", "destinations": [ { "name": "p", "kind": "prometheusremotewrite", "signals": ["traces"], "endpoint": "http://p" } ] }""", "tenants[0].destinations[0].signals[0]", "carries metrics only, not traces" },
        { """{ "id": "a", "destinations": [ { "name": "p", "kind": "otlp", "signals": ["logs", "logs"], "endpoint": "http://p" } ] }""", "tenants[0].destinations[0].signals[1]", "duplicate signal \"logs\"" },
        { """{ "id": "a", "destinations": [ { "name": "f", "kind": "file" } ] }""", "tenants[0].destinations[0].path", "is required for kind file" },
        { """{ "id": "a", "destinations": [ { "name": "f", "kind": "file", "path": "/x", "endpoint": "http://p" } ] }""", "tenants[0].destinations[0].endpoint", "is not used by kind file" },
        { """{ "id": "a", "destinations": [ { "name": "o", "kind": "otlphttp" } ] }""", "tenants[0].destinations[0].endpoint", "is required for kind otlphttp" },
        { """{ "id": "a", "destinations": [ { "name": "o", "kind": "otlp", "endpoint": "jaeger:4317" } ] }""", "tenants[0].destinations[0].endpoint", "not an absolute http:// or https:// URL" },
        { """{ "id": "a", "destinations": [ { "name": "o", "kind": "otlp", "endpoint": "ftp://jaeger" } ] }""", "tenants[0].destinations[0].endpoint", "not an absolute http:// or https:// URL" },
        { """{ "id": "a", "destinations": [ { "name": "o", "kind": "otlp", "endpoint": "http://u:p@jaeger" } ] }""", "tenants[0].destinations[0].endpoint", "must not contain credentials" },
        { """{ "id": "a", "destinations": [ { "name": "o", "kind": "otlp", "endpoint": "http://j", "path": "/x" } ] }""", "tenants[0].destinations[0].path", "is only for kind file" },
        { """{ "id": "a", "destinations": [ { "name": "o", "kind": "otlp", "endpoint": "http://j" }, { "name": "o", "kind": "loki", "endpoint": "http://l" } ] }""", "tenants[0].destinations[1].name", "duplicate destination name \"o\" (also tenants[0].destinations[0])" },
        { """{ "id": "a", "destinations": [ { "name": "a b", "kind": "otlp", "endpoint": "http://j" } ] }""", "tenants[0].destinations[0].name", "not a valid destination name" },
        { """{ "id": "a", "destinations": [ { "name": "o", "kind": "otlp", "endpoint": "http://j", "when": "" } ] }""", "tenants[0].destinations[0].when", "OTTL condition must not be empty" },
        { """{ "id": "a", "destinations": [ { "name": "o", "kind": "otlp", "endpoint": "http://j", "headers": { "Authorization": "secret:" } } ] }""", "tenants[0].destinations[0].headers.Authorization", "invalid secret reference" },
        { """{ "id": "a", "destinations": [ { "name": "o", "kind": "otlp", "endpoint": "http://j", "headers": { "Bad Name": "v" } } ] }""", "tenants[0].destinations[0].headers[\"Bad Name\"]", "not a valid HTTP header name" },
        { """{ "id": "a", "destinations": [ { "name": "o", "kind": "otlp", "endpoint": "http://j", "timeout": "0s" } ] }""", "tenants[0].destinations[0].timeout", "greater than 0" },
        { """{ "id": "a", "destinations": [ { "name": "o", "kind": "otlp", "endpoint": "http://j", "retry": { "initialInterval": "5s", "maxInterval": "1s" } } ] }""", "tenants[0].destinations[0].retry.maxInterval", "must not be less than initialInterval" },
        { """{ "id": "a", "destinations": [ { "name": "o", "kind": "otlp", "endpoint": "http://j", "batch": { "maxItems": 0 } } ] }""", "tenants[0].destinations[0].batch.maxItems", "between 1 and" },
        { """{ "id": "a", "destinations": [ { "name": "o", "kind": "otlp", "endpoint": "http://j", "batch": { "maxBytes": 1073741824 } } ] }""", "tenants[0].destinations[0].batch.maxBytes", "16 MiB" },
        { """{ "id": "a", "destinations": [ { "name": "o", "kind": "otlp", "endpoint": "http://j", "compression": "zstd" } ] }""", "tenants[0].destinations[0].compression", "unknown compression \"zstd\"; expected one of none, gzip" },
        { """{ "id": "a", "destinations": [ { "name": "o", "kind": "prometheusremotewrite", "endpoint": "http://j", "compression": "gzip" } ] }""", "tenants[0].destinations[0].compression", "not configurable for prometheusremotewrite" },
        { """{ "id": "a", "destinations": [ { "name": "o", "kind": "otlp", "endpoint": "http://j", "lokiLabels": ["service.name"] } ] }""", "tenants[0].destinations[0].lokiLabels", "only for kind loki" },
        { """{ "id": "a", "destinations": [ { "name": "o", "kind": "otlp", "endpoint": "http://j", "encoding": "json" } ] }""", "tenants[0].destinations[0].encoding", "is only for kinds otlphttp and loki" },
        { """{ "id": "a", "destinations": [ { "name": "o", "kind": "prometheusremotewrite", "endpoint": "http://j", "encoding": "protobuf" } ] }""", "tenants[0].destinations[0].encoding", "is only for kinds otlphttp and loki; a prometheusremotewrite destination has no such field" },
        { """{ "id": "a", "destinations": [ { "name": "o", "kind": "file", "path": "/tmp/x", "encoding": "json" } ] }""", "tenants[0].destinations[0].encoding", "is only for kinds otlphttp and loki" },
    };

    [Fact]
    public void A_composite_policy_parses_with_its_sub_policies_order_and_allocations()
    {
        string json = """
            { "tenants": [ { "id": "acme", "sampling": { "tail": { "policies": [
              { "name": "c", "type": "composite", "composite": {
                "maxTotalSpansPerSecond": 1000,
                "policyOrder": ["errors", "both", "all"],
                "subPolicies": [
                  { "name": "errors", "type": "status_code", "statusCode": { "statusCodes": ["ERROR"] } },
                  { "name": "both", "type": "and", "and": { "policies": [
                    { "name": "slow", "type": "latency", "latency": { "threshold": "1s" } },
                    { "name": "cap", "type": "rate_limiting", "rateLimiting": { "spansPerSecond": 10 } } ] } },
                  { "name": "all", "type": "always_sample" } ],
                "rateAllocation": [ { "policy": "errors", "percent": 50 }, { "policy": "both", "percent": 25 } ] } } ] } } } ] }
            """;

        var composite = Assert.Single(Assert.Single(TenantFileParser.Parse(json, "c.json").Tenants).Sampling!.Tail!.Policies).Composite!;

        Assert.Equal(1000, composite.MaxTotalSpansPerSecond);
        Assert.Equal(["errors", "both", "all"], composite.PolicyOrder);
        Assert.Equal([TailPolicyType.StatusCode, TailPolicyType.And, TailPolicyType.AlwaysSample], composite.SubPolicies.Select(p => p.Type));
        Assert.Equal([new RateAllocation { Policy = "errors", Percent = 50 }, new RateAllocation { Policy = "both", Percent = 25 }], composite.RateAllocation);
    }

    [Theory]
    [MemberData(nameof(InvalidCases))]
    public void An_invalid_field_is_refused_with_its_path_and_reason(string tenantJson, string path, string message)
    {
        var ex = Assert.Throws<TenantConfigException>(() => TenantFileParser.Parse($$"""{ "tenants": [ {{tenantJson}} ] }""", "bad.json"));

        Assert.Contains(ex.Errors, e => e.Path == path && e.Message.Contains(message, StringComparison.Ordinal) && e.File == "bad.json" && e.Line == 1);
    }

    [Fact]
    public void Every_problem_is_listed_with_its_line()
    {
        string json = """
            {
              "tenants": [
                {
                  "id": "acme",
                  "apiKeys": ["0123456789abcdef-key-one"],
                  "destinations": [
                    { "name": "tempo", "kind": "otlphttp", "endpoint": "http://tempo:4318" },
                    { "name": "prom",
                      "kind": "promethues",
                      "endpoint": "http://prometheus:9090/api/v1/write" }
                  ]
                },
                {
                  "id": "acme",
                  "apiKeys": ["0123456789abcdef-key-one"],
                  "endpiont": "x"
                }
              ]
            }
            """;

        var ex = Assert.Throws<TenantConfigException>(() => TenantFileParser.Parse(json, "acme.json"));

        Assert.Collection(
            ex.Errors.Select(e => e.ToString()),
            e => Assert.Equal("acme.json:9: tenants[0].destinations[1].kind: unknown kind \"promethues\"; expected one of otlp, otlphttp, prometheusremotewrite, loki, file", e),
            e => Assert.Equal("acme.json:16: tenants[1].endpiont: unknown field \"endpiont\"; expected one of id, apiKeys, limits, sampling, transforms, filters, transformErrorMode, redaction, destinations, agents", e));
        Assert.Equal(
            [
                "acme.json:9: tenants[0].destinations[1].kind: unknown kind \"promethues\"; expected one of otlp, otlphttp, prometheusremotewrite, loki, file",
                "acme.json:16: tenants[1].endpiont: unknown field \"endpiont\"; expected one of id, apiKeys, limits, sampling, transforms, filters, transformErrorMode, redaction, destinations, agents",
            ],
            ex.Errors.Select(e => e.ToString()));
        Assert.Contains("2 problems", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rules_between_values_are_all_listed_and_keys_are_never_echoed()
    {
        string json = $$"""
            {
              "tenants": [
                { "id": "acme", "apiKeys": ["{{Key1}}", "{{Key2}}"] },
                { "id": "acme", "apiKeys": ["{{Key2}}"] }
              ]
            }
            """;

        var ex = Assert.Throws<TenantConfigException>(() => TenantFileParser.Parse(json, "acme.json"));

        Assert.Equal(
            [
                "acme.json:4: tenants[1].id: duplicate tenant id \"acme\" (also tenants[0].id)",
                "acme.json:4: tenants[1].apiKeys[0]: duplicate API key (also tenants[0].apiKeys[1]); a key identifies exactly one tenant",
            ],
            ex.Errors.Select(e => e.ToString()));
        Assert.DoesNotContain(Key2, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_json_syntax_error_names_its_line_and_column()
    {
        string json = "{\n  \"tenants\": [\n    { \"id\": \"acme\" \"apiKeys\": [] }\n  ]\n}";

        var ex = Assert.Throws<TenantConfigException>(() => TenantFileParser.Parse(json, "broken.json"));

        var error = Assert.Single(ex.Errors);
        Assert.Equal(("broken.json", 3, (string?)null), (error.File, error.Line, error.Path));
        Assert.NotNull(error.Column);
        Assert.StartsWith("broken.json:3:", error.ToString(), StringComparison.Ordinal);
        Assert.StartsWith("invalid JSON: ", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("LineNumber", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_duplicate_field_is_refused()
    {
        var ex = Assert.Throws<TenantConfigException>(() => TenantFileParser.Parse("""{ "tenants": [ { "id": "a", "id": "b" } ] }""", "dup.json"));

        Assert.Contains(ex.Errors, e => e.Path == "tenants[0].id" && e.Message == "duplicate field \"id\"");
    }

    [Theory]
    [InlineData("""{ "mode": "hash_seed", "samplingPercentage": 10 }""", "tenants[0].sampling.traces.mode")]
    [InlineData("""{ "samplingPercentage": 10, "hashSeed": 22 }""", "tenants[0].sampling.traces.hashSeed")]
    [InlineData("""{ "samplingPercentage": 10, "hash_seed": 22 }""", "tenants[0].sampling.traces.hash_seed")]
    public void Hash_seed_is_refused_by_name_with_the_reason(string traces, string path)
    {
        var ex = Assert.Throws<TenantConfigException>(() =>
            TenantFileParser.Parse($$"""{ "tenants": [ { "id": "a", "sampling": { "traces": {{traces}} } } ] }""", "seed.json"));

        var error = Assert.Single(ex.Errors);
        Assert.Equal(path, error.Path);
        Assert.StartsWith("hash_seed is refused", error.Message, StringComparison.Ordinal);
        Assert.Contains("not interoperable", error.Message, StringComparison.Ordinal);
        Assert.Contains("\"th\"", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Authorization", "Bearer abc", ".Authorization")]
    [InlineData("authorization", "Basic dXNlcjpwYXNz", ".authorization")]
    [InlineData("X-Api-Key", "abc", "[\"X-Api-Key\"]")]
    [InlineData("X-Auth-Token", "abc", "[\"X-Auth-Token\"]")]
    [InlineData("Client-Secret", "abc", "[\"Client-Secret\"]")]
    [InlineData("X-Password", "abc", "[\"X-Password\"]")]
    public void A_credential_header_in_plain_text_is_refused_without_echoing_it(string header, string value, string pathSuffix)
    {
        string json = $$"""{ "tenants": [ { "id": "a", "destinations": [ { "name": "o", "kind": "otlphttp", "endpoint": "http://x", "headers": { "{{header}}": "{{value}}" } } ] } ] }""";

        var ex = Assert.Throws<TenantConfigException>(() => TenantFileParser.Parse(json, "h.json"));

        var error = Assert.Single(ex.Errors);
        Assert.Equal("tenants[0].destinations[0].headers" + pathSuffix, error.Path);
        Assert.Contains("secret:NAME", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(value, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_ottl_validator_is_called_with_each_statement_and_its_context()
    {
        var validator = new RecordingValidator();
        string json = """
            { "tenants": [ { "id": "a",
              "transforms": { "traces": ["set(span.name, \"x\")"], "logs": ["bad("] },
              "filters": { "metrics": ["metric.name == \"up\""] },
              "destinations": [ { "name": "o", "kind": "otlp", "signals": ["traces", "logs"], "endpoint": "http://j", "when": "resource.attributes[\"env\"] == \"prod\"" } ] } ] }
            """;

        var ex = Assert.Throws<TenantConfigException>(() => TenantFileParser.Parse(json, "ottl.json", validator));

        Assert.Equal(
            [
                ("set(span.name, \"x\")", OttlContexts.TransformTraces),
                ("bad(", OttlContexts.TransformLogs),
                ("metric.name == \"up\"", OttlContexts.FilterMetrics),
                ("resource.attributes[\"env\"] == \"prod\"", OttlContexts.WhenTraces),
                ("resource.attributes[\"env\"] == \"prod\"", OttlContexts.WhenLogs),
            ],
            validator.Calls);
        var error = Assert.Single(ex.Errors);
        Assert.Equal("ottl.json:2: tenants[0].transforms.logs[0]: 1:5: expected an argument or ')'", error.ToString());
    }

    [Fact]
    public void An_empty_file_has_no_tenants_and_a_missing_root_is_refused()
    {
        Assert.Empty(TenantFileParser.Parse("""{ "tenants": [] }""", "empty.json").Tenants);
        Assert.Empty(TenantFileParser.Parse("{}", "empty.json").Tenants);
        Assert.Empty(TenantFileParser.Parse("\uFEFF{}", "bom.json").Tenants);
        var ex = Assert.Throws<TenantConfigException>(() => TenantFileParser.Parse("[]", "list.json"));
        Assert.Equal("list.json:1: expected an object, got a list", Assert.Single(ex.Errors).ToString());
    }

    [Theory]
    [InlineData("10s", 10_000)]
    [InlineData("500ms", 500)]
    [InlineData("2m", 120_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("1m30s", 90_000)]
    [InlineData("1.5s", 1_500)]
    [InlineData("0", 0)]
    [InlineData("250us", 0.25)]
    public void Durations_parse_like_go(string text, double milliseconds)
    {
        Assert.True(ConfigDuration.TryParse(text, out var value));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), value);
        Assert.Equal(value, ConfigDuration.Parse(ConfigDuration.Format(value)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("10")]
    [InlineData("s")]
    [InlineData("-1s")]
    [InlineData("10 s")]
    [InlineData("1d")]
    [InlineData("1.2.3s")]
    public void Bad_durations_are_refused(string text) => Assert.False(ConfigDuration.TryParse(text, out _));

    [Fact]
    public void Durations_format_in_the_largest_exact_unit()
    {
        Assert.Equal("10s", ConfigDuration.Format(TimeSpan.FromSeconds(10)));
        Assert.Equal("90s", ConfigDuration.Format(TimeSpan.FromSeconds(90)));
        Assert.Equal("2m", ConfigDuration.Format(TimeSpan.FromMinutes(2)));
        Assert.Equal("1500ms", ConfigDuration.Format(TimeSpan.FromMilliseconds(1500)));
        Assert.Equal("0s", ConfigDuration.Format(TimeSpan.Zero));
    }

    [Fact]
    public void Api_key_hashes_are_lowercase_hex_sha256_and_generated_keys_are_base64url()
    {
        // echo -n 'abc' | sha256sum
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", ApiKey.Hash("abc"));
        string key = ApiKey.Generate();
        Assert.Equal(43, key.Length);
        Assert.Matches("^[A-Za-z0-9_-]{43}$", key);
        Assert.NotEqual(key, ApiKey.Generate());
    }

    /// <summary>The contracts example holds placeholders, not OTTL: accept them instead of the default validator.</summary>
    private static readonly IOttlValidator Placeholders = new RecordingValidator();

    private sealed class RecordingValidator : IOttlValidator
    {
        public List<(string Statement, string Context)> Calls { get; } = [];

        public string? Validate(string statement, string context)
        {
            Calls.Add((statement, context));
            return statement == "bad(" ? "1:5: expected an argument or ')'" : null;
        }
    }
}
