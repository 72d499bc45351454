using System.Text.Json;
using ServerlessOtlp.Agents;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Agents;

/// <summary>
/// The tenant file's <c>agents</c> section: validated at apply time with file, line and field (YAML, the
/// Collector's transform/filter OTTL, placeholders, sizes), then matched and hashed per agent.
/// </summary>
public sealed class AgentConfigTests
{
    private static string File(params (string Name, string Match, string Body)[] configs)
    {
        var entries = configs.Select(c => $$"""
                  { "name": {{JsonSerializer.Serialize(c.Name)}}, "match": {{c.Match}},
                    "contentType": "text/yaml",
                    "body": {{JsonSerializer.Serialize(c.Body)}} }
            """);
        return $$"""
            { "tenants": [ {
                "id": "acme",
                "agents": { "configs": [
            {{string.Join(",\n", entries)}}
                ] }
            } ] }
            """;
    }

    private static (TenantFile? File, IReadOnlyList<TenantConfigError> Errors, List<TenantConfigError> Warnings) Parse(string json)
    {
        var warnings = new List<TenantConfigError>();
        try
        {
            return (TenantFileParser.Parse(json, "acme.json", warnings: warnings), [], warnings);
        }
        catch (TenantConfigException ex)
        {
            return (null, ex.Errors, warnings);
        }
    }

    private const string Collector = """
        receivers:
          otlp:
            protocols:
              http: {}
        processors:
          transform:
            trace_statements:
              - set(span.attributes["env"], "prod")
        exporters:
          otlphttp:
            endpoint: ${serverlessotlp:endpoint}
        service:
          pipelines:
            traces: { receivers: [otlp], processors: [transform], exporters: [otlphttp] }
        """;

    [Fact]
    public void A_valid_section_is_kept_with_its_fields()
    {
        var (file, errors, warnings) = Parse(File(("edge", """{"service.name": "checkout"}""", Collector), ("default", "{}", "receivers: {}")));
        Assert.Empty(errors);
        Assert.Empty(warnings);
        var configs = file!.Tenants[0].Agents!.Configs;
        Assert.Equal(["edge", "default"], configs.Select(c => c.Name));
        Assert.Equal("checkout", configs[0].Match["service.name"]);
        Assert.Empty(configs[1].Match);
        Assert.Equal("text/yaml", configs[0].ContentType);

        // Stored and read back as the gateway reads it.
        var stored = TenantJson.DeserializeStored(TenantJson.SerializeForStore(file.Tenants[0]));
        Assert.Equal(Collector, stored.Agents!.Configs[0].Body);
    }

    [Fact]
    public void Yaml_that_does_not_parse_is_refused_with_file_line_field_and_body_line()
    {
        var (_, errors, _) = Parse(File(("edge", "{}", "receivers:\n  otlp: [unclosed\n")));
        var error = Assert.Single(errors);
        Assert.Equal("acme.json", error.File);
        Assert.Equal(6, error.Line); // the line of "body" in the file
        Assert.Equal("tenants[0].agents.configs[0].body", error.Path);
        Assert.Contains("not valid YAML (body line", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Collector_OTTL_is_checked_by_the_projects_validator_and_unknown_functions_are_warnings()
    {
        string bad = Collector.Replace("\"prod\")", "\"prod\"", StringComparison.Ordinal);
        var (_, errors, _) = Parse(File(("edge", "{}", bad)));
        var error = Assert.Single(errors);
        Assert.Contains("body line 8: processors.transform.trace_statements[0]:", error.Message, StringComparison.Ordinal);

        string wrongPath = Collector.Replace("span.attributes", "span.atributes", StringComparison.Ordinal);
        Assert.Single(Parse(File(("edge", "{}", wrongPath))).Errors);

        string unknown = Collector.Replace("""set(span.attributes["env"], "prod")""", """set(span.attributes["h"], SHA512(span.name))""", StringComparison.Ordinal);
        var (file, none, warnings) = Parse(File(("edge", "{}", unknown)));
        Assert.Empty(none);
        Assert.NotNull(file);
        var warning = Assert.Single(warnings);
        Assert.Equal("tenants[0].agents.configs[0].body", warning.Path);
        Assert.Contains("SHA512 is not in this project's OTTL subset", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Filter_processor_conditions_are_checked_for_syntax_in_their_context_relative_form()
    {
        const string filter = """
            processors:
              filter/health:
                error_mode: ignore
                traces:
                  span:
                    - 'attributes["http.route"] == "/healthz"'
                    - 'attributes["http.route"] == '
            """;
        var (_, errors, _) = Parse(File(("edge", "{}", filter)));
        var error = Assert.Single(errors);
        Assert.Contains("processors.filter/health.traces.span[1]", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Names_matches_placeholders_sizes_and_content_types_are_bounded()
    {
        var many = string.Join(", ", Enumerable.Range(0, AgentConfigRules.MaxMatchPairs + 1).Select(i => $"\"k{i}\": \"v\""));
        var (_, errors, _) = Parse(File(
            ("bad name!", "{}", "a: 1"),
            ("dup", "{}", "a: 1"),
            ("dup", "{" + many + "}", "a: ${serverlessotlp:secret}"),
            ("big", "{}", "a: " + new string('x', AgentConfigRules.MaxBodyBytes))));
        string all = string.Join("\n", errors);
        Assert.Contains("tenants[0].agents.configs[0].name", all, StringComparison.Ordinal);
        Assert.Contains("duplicate config name \"dup\"", all, StringComparison.Ordinal);
        Assert.Contains($"at most {AgentConfigRules.MaxMatchPairs} attributes", all, StringComparison.Ordinal);
        Assert.Contains("unknown placeholder ${serverlessotlp:secret}", all, StringComparison.Ordinal);
        Assert.Contains("exceeds the limit of", all, StringComparison.Ordinal);

        var (_, typeErrors, _) = Parse("""{ "tenants": [ { "id": "acme", "agents": { "configs": [ { "name": "x", "contentType": "application/xml", "body": "<a/>" } ] } } ] }""");
        Assert.Contains("\"application/xml\" is not supported", Assert.Single(typeErrors).Message, StringComparison.Ordinal);

        var (_, typo, _) = Parse("""{ "tenants": [ { "id": "acme", "agents": { "config": [] } } ] }""");
        Assert.Equal("tenants[0].agents.config", Assert.Single(typo).Path);
    }

    [Fact]
    public void The_first_matching_config_wins_an_empty_match_is_the_default_and_the_hash_is_stable()
    {
        var agents = new AgentsConfig
        {
            Configs =
            [
                new AgentConfigEntry { Name = "edge", Match = new Dictionary<string, string> { ["service.name"] = "checkout", ["env"] = "prod" }, Body = "a: ${serverlessotlp:api_key}" },
                new AgentConfigEntry { Name = "default", Body = "a: ${serverlessotlp:endpoint}" },
                new AgentConfigEntry { Name = "never", Body = "b: 1" },
            ],
        };
        var both = new Dictionary<string, string> { ["service.name"] = "checkout", ["env"] = "prod" };
        var one = new Dictionary<string, string> { ["service.name"] = "checkout" };
        Assert.Equal("edge", AgentConfigSelector.Match(agents, both)!.Name);
        Assert.Equal("default", AgentConfigSelector.Match(agents, one)!.Name);
        Assert.Null(AgentConfigSelector.Match(new AgentsConfig { Configs = [agents.Configs[0]] }, one));

        byte[] h1 = AgentConfigSelector.Select(agents, both, "https://gw", "acme", "key-one-0123456789")!.Hash;
        Assert.Equal(h1, AgentConfigSelector.Select(agents, both, "https://gw", "acme", "key-one-0123456789")!.Hash);
        // An equal entry parsed again (another replica, a reload) hashes the same.
        var copy = new AgentsConfig { Configs = [agents.Configs[0] with { }] };
        Assert.Equal(h1, AgentConfigSelector.Select(copy, both, "https://gw", "acme", "key-one-0123456789")!.Hash);
        Assert.NotEqual(h1, AgentConfigSelector.Select(agents, both, "https://gw2", "acme", "key-one-0123456789")!.Hash);
        // The echoed key changes the hash of a body that uses it (almost always: 16 bits of the key)…
        int differing = Enumerable.Range(0, 64).Count(i => !h1.AsSpan().SequenceEqual(AgentConfigSelector.Select(agents, both, "https://gw", "acme", $"key-{i:D4}-0123456789")!.Hash));
        Assert.InRange(differing, 60, 64);
        // …and not that of a body that does not.
        byte[] d1 = AgentConfigSelector.Select(agents, one, "https://gw", "acme", "key-one-0123456789")!.Hash;
        Assert.Equal(d1, AgentConfigSelector.Select(agents, one, "https://gw", "acme", "key-two-0123456789")!.Hash);
        Assert.Equal("a: https://gw", AgentConfigPlaceholders.Fill(agents.Configs[1].Body, "https://gw", "k", "acme"));
    }

    [Fact]
    public void The_shipped_Collector_example_parses_and_its_processors_OTTL_validates()
    {
        string dir = Path.Combine(RepoRoot.Path, "examples", "opamp-collector");
        var warnings = new List<TenantConfigError>();
        // As `otlpctl dev --tenants` reads it (the example's README): a local file path is allowed there.
        var file = TenantFileParser.ParseFile(Path.Combine(dir, "tenants.json"), rules: TenantFileRules.AnyPath, warnings: warnings);
        Assert.Empty(warnings);
        var configs = file.Tenants.Single().Agents!.Configs;
        Assert.NotEmpty(configs);

        // The body in the tenant file is the example's collector.yaml, and it batches, limits memory and keeps only listed attributes.
        string yaml = System.IO.File.ReadAllText(Path.Combine(dir, "collector.yaml"));
        Assert.Equal(yaml.ReplaceLineEndings("\n"), configs[0].Body.ReplaceLineEndings("\n"));
        var stream = new YamlDotNet.RepresentationModel.YamlStream();
        stream.Load(new StringReader(yaml));
        var root = (YamlDotNet.RepresentationModel.YamlMappingNode)stream.Documents[0].RootNode;
        var processors = (YamlDotNet.RepresentationModel.YamlMappingNode)root.Children[new YamlDotNet.RepresentationModel.YamlScalarNode("processors")];
        var names = processors.Children.Keys.Select(k => k.ToString()).ToList();
        Assert.Contains("batch", names);
        Assert.Contains("memory_limiter", names);
        Assert.Contains(names, n => n.StartsWith("transform", StringComparison.Ordinal));
        Assert.Contains("keep_keys", yaml, StringComparison.Ordinal);

        // The Supervisor's own config parses as YAML and points at the gateway's OpAMP endpoint.
        string supervisor = System.IO.File.ReadAllText(Path.Combine(dir, "supervisor.yaml"));
        var sup = new YamlDotNet.RepresentationModel.YamlStream();
        sup.Load(new StringReader(supervisor));
        Assert.Contains("/v1/opamp", supervisor, StringComparison.Ordinal);
        Assert.Contains("accepts_remote_config: true", supervisor, StringComparison.Ordinal);
    }
}
