using System.Text.Json;
using Json.Schema;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Tenants;

/// <summary>
/// The checked-in tenant-file schema is the one generated from the parser's model, and it agrees with
/// the parser: what the parser accepts validates, what it refuses by shape does not.
/// </summary>
public sealed class TenantFileSchemaTests
{
    private static readonly string SchemaPath = Path.Combine(RepoRoot.Path, "schemas", "tenant-file.schema.json");

    private static readonly JsonDocumentOptions Lenient = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    private const string Everything = """
        { "$schema": "../schemas/tenant-file.schema.json",
          "tenants": [ {
            "id": "acme",
            "apiKeys": ["0123456789abcdef-key-one"],
            "limits": { "itemsPerSecond": 200000, "bytesPerSecond": 100000000 },
            "sampling": { "traces": { "mode": "equalizing", "samplingPercentage": 10, "precision": 3 },
                          "tail": { "decisionWait": "1m30s", "policies": [
                            { "name": "errors", "type": "status_code", "statusCode": { "statusCodes": ["ERROR"] } },
                            { "name": "slow", "type": "latency", "latency": { "threshold": "500ms" } } ] } },
            "transforms": { "traces": ["set(span.attributes[\"x\"], \"y\")"] },
            "filters": { "logs": ["log.severity_number < 9"] },
            "transformErrorMode": "ignore",
            "redaction": ["credentials", "emails"],
            "destinations": [
              { "name": "files", "kind": "file", "path": "acme" },
              { "name": "tempo", "kind": "otlphttp", "endpoint": "https://tempo.example.com", "encoding": "json",
                "headers": { "Authorization": "secret:tempo-token" }, "timeout": "5s",
                "retry": { "initialInterval": "1s", "maxInterval": "30s", "maxElapsed": "5m" },
                "batch": { "maxItems": 1000, "maxBytes": 1000000, "flushInterval": "200ms" }, "compression": "gzip" },
              { "name": "loki", "kind": "loki", "endpoint": "https://loki.example.com/loki/api/v1/push", "lokiLabels": ["service.name"] },
              { "name": "prom", "kind": "prometheusremotewrite", "endpoint": "https://prom.example.com/api/v1/write" } ]
        } ] }
        """;

    [Fact]
    public void The_checked_in_schema_is_the_generated_one()
    {
        Assert.True(File.Exists(SchemaPath), $"{SchemaPath} is missing");
        Assert.True(
            File.ReadAllText(SchemaPath) == TenantFileSchema.Generate(),
            "schemas/tenant-file.schema.json is out of date with the tenant model: regenerate it with `dotnet run --project tools/otlpctl -- tenants schema > schemas/tenant-file.schema.json`");
    }

    [Fact]
    public void A_file_the_parser_accepts_validates_and_names_its_schema()
    {
        var parsed = TenantFileParser.Parse(Everything, "everything.json", rules: TenantFileRules.Deployment);
        Assert.Equal("acme", Assert.Single(parsed.Tenants).Id);
        AssertValid(Everything, "everything.json");
    }

    [Fact]
    public void Every_tenant_file_in_the_repository_validates()
    {
        var files = Directory.EnumerateFiles(RepoRoot.Path, "*.json", SearchOption.AllDirectories)
            .Where(f => !f.Contains("node_modules", StringComparison.Ordinal) && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                        && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                        && !f.Contains($"{Path.DirectorySeparatorChar}artifacts{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                        && !f.Contains($"{Path.DirectorySeparatorChar}.", StringComparison.Ordinal))
            .Where(IsTenantFile)
            .ToList();
        Assert.NotEmpty(files);
        foreach (string file in files)
        {
            AssertValid(File.ReadAllText(file), Path.GetRelativePath(RepoRoot.Path, file));
        }
    }

    [Theory]
    [InlineData("an unknown tenant field", """{ "tenants": [ { "id": "a", "destinatons": [] } ] }""")]
    [InlineData("an unknown top-level field", """{ "tenant": [] }""")]
    [InlineData("a field of another kind", """{ "tenants": [ { "id": "a", "destinations": [ { "name": "f", "kind": "file", "path": "x", "lokiLabels": ["a"] } ] } ] }""")]
    [InlineData("an unknown kind", """{ "tenants": [ { "id": "a", "destinations": [ { "name": "f", "kind": "jaeger" } ] } ] }""")]
    [InlineData("a duration in words", """{ "tenants": [ { "id": "a", "sampling": { "tail": { "decisionWait": "10 seconds" } } } ] }""")]
    [InlineData("an unknown enum name", """{ "tenants": [ { "id": "a", "redaction": ["passwords"] } ] }""")]
    [InlineData("a missing id", """{ "tenants": [ { "apiKeys": [] } ] }""")]
    public void What_the_parser_refuses_by_shape_the_schema_refuses(string what, string json)
    {
        Assert.Throws<TenantConfigException>(() => TenantFileParser.Parse(json, "bad.json"));
        using var doc = JsonDocument.Parse(json);
        var result = Schema().Evaluate(doc.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        Assert.False(result.IsValid, $"the schema accepts {what}: {json}");
    }

    private static JsonSchema Schema() => JsonSchema.FromText(File.ReadAllText(SchemaPath));

    private static bool IsTenantFile(string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path), Lenient);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("tenants", out var tenants) && tenants.ValueKind == JsonValueKind.Array;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static void AssertValid(string json, string name)
    {
        using var doc = JsonDocument.Parse(json, Lenient);
        var result = Schema().Evaluate(doc.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        Assert.True(result.IsValid, $"{name} does not validate against the schema:\n" + string.Join("\n", (result.Details ?? []).Where(d => d.Errors is { Count: > 0 }).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Key}: {e.Value}"))));
    }
}
