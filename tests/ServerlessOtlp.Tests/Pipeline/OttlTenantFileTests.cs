using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Tests.Pipeline;

/// <summary>Tenant files are refused at apply time when an OTTL statement does not compile: the field, the line, the column.</summary>
public class OttlTenantFileTests
{
    [Fact]
    public void Bad_statements_are_refused_with_the_file_line_field_and_column()
    {
        const string Json = """
            { "tenants": [ {
                "id": "acme",
                "transforms": {
                  "traces": [
                    "set(span.attributes[\"env\"], \"prod\")",
                    "set(span.name, \"x\" where span.kind == 2"
                  ],
                  "logs": ["delete_key(log.attributes, log.body)"]
                },
                "filters": { "metrics": ["metric.name = \"up\""] },
                "destinations": [ { "name": "prod", "kind": "otlp", "endpoint": "http://tempo:4317", "signals": ["traces"],
                                    "when": "span.status.code == STATUS_CODE_EROR" } ]
            } ] }
            """;

        var ex = Assert.Throws<TenantConfigException>(() => TenantFileParser.Parse(Json, "acme.json"));

        Assert.Equal(
            [
                "acme.json:6: tenants[0].transforms.traces[1]: 1:20: expected ',' or ')'",
                "acme.json:8: tenants[0].transforms.logs[0]: 1:28: delete_key: expected a string literal",
                "acme.json:10: tenants[0].filters.metrics[0]: 1:13: expected a comparison operator (==, !=, <, <=, >, >=) after metric.name",
                "acme.json:12: tenants[0].destinations[0].when: 1:21: unknown enum symbol STATUS_CODE_EROR",
            ],
            ex.Errors.Select(e => e.ToString()));
    }

    [Fact]
    public void Good_statements_pass_and_a_model_built_in_code_is_checked_too()
    {
        const string Json = """
            { "tenants": [ {
                "id": "acme",
                "transformErrorMode": "ignore",
                "transforms": { "traces": ["set(span.attributes[\"env\"], \"prod\") where resource.attributes[\"k8s.namespace.name\"] == \"prod\""],
                                "logs": ["set(attributes[\"level\"], severity_text)"],
                                "metrics": ["delete_key(datapoint.attributes, \"http.route\")"] },
                "filters": { "traces": ["span.attributes[\"url.path\"] == \"/health\""], "logs": ["log.severity_number < SEVERITY_NUMBER_INFO"] },
                "destinations": [ { "name": "prod", "kind": "otlp", "endpoint": "http://tempo:4317",
                                    "when": "resource.attributes[\"deployment.environment\"] == \"prod\"" } ]
            } ] }
            """;

        var tenant = Assert.Single(TenantFileParser.Parse(Json, "acme.json").Tenants);

        var errors = TenantFileParser.Validate(new TenantFile { Tenants = [tenant with { Filters = new OttlStatements { Logs = ["severity_number <"] } }] });
        Assert.Equal("tenants[0].filters.logs[0]: 1:18: expected a value after <", Assert.Single(errors).ToString());
    }
}
