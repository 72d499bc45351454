using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using ServerlessOtlp.Agents;
using ServerlessOtlp.Pipeline.Ottl;
using ServerlessOtlp.Pipeline.Ottl.Functions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace ServerlessOtlp.Tenants;

/// <summary>
/// Apply-time rules of a tenant's <c>agents</c> section (<see cref="TenantFileParser"/> calls them): names,
/// matches and sizes bounded, placeholders known, YAML that parses, and — for a Collector config — the
/// OTTL of its <c>transform</c> and <c>filter</c> processors checked by the project's own validator. A
/// function our OTTL subset does not implement is a warning, not an error: the Collector has it.
/// The gateway serves only what passed here, so nothing YAML is parsed on its request path.
/// </summary>
internal static partial class AgentConfigRules
{
    public const string DefaultContentType = "text/yaml";

    /// <summary>Configs per tenant: a list scanned in order on every config lookup.</summary>
    public const int MaxConfigs = 64;

    /// <summary>Pairs per <c>match</c>; each key and value at most <see cref="MaxMatchChars"/>.</summary>
    public const int MaxMatchPairs = 16;

    public const int MaxMatchChars = 256;

    /// <summary>
    /// Bytes of one body (UTF-8). A Collector config is a few KiB; 256 KiB keeps every ServerToAgent well
    /// under the 1 MiB the gateway's OpAMP answers are bounded by (the specification asks servers to bound responses).
    /// </summary>
    public const int MaxBodyBytes = 256 * 1024;

    /// <summary>Content types accepted; the YAML ones are parsed, JSON is parsed, text/plain is taken as it is.</summary>
    public static readonly IReadOnlyList<string> ContentTypes = ["text/yaml", "application/yaml", "application/x-yaml", "text/x-yaml", "application/json", "text/plain"];

    /// <summary>The checks, reporting through <paramref name="error"/> and <paramref name="warning"/> (field path, message).</summary>
    public static void Check(AgentsConfig? agents, string path, IOttlValidator? ottl, Action<string, string> error, Action<string, string> warning)
    {
        if (agents is null)
        {
            return;
        }

        if (agents.MaxAgents is <= 0)
        {
            error(path + ".maxAgents", "must be greater than 0 (leave it out for the gateway's limit)");
        }

        if (agents.Configs.Count > MaxConfigs)
        {
            error(path + ".configs", $"at most {MaxConfigs} configs per tenant, got {agents.Configs.Count}");
        }

        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < agents.Configs.Count; i++)
        {
            var config = agents.Configs[i];
            string at = JsonPaths.Index(path + ".configs", i);
            if (config.Name is null || !NameRegex().IsMatch(config.Name))
            {
                error(at + ".name", $"\"{config.Name}\" is not a valid config name; expected 1 to 64 of A-Z a-z 0-9 _ . - starting with a letter or digit");
            }
            else if (!names.TryAdd(config.Name, at))
            {
                error(at + ".name", $"duplicate config name \"{config.Name}\" (also {names[config.Name]})");
            }

            CheckMatch(config, at, error);
            CheckBody(config, at, ottl, error, warning);
        }
    }

    private static void CheckMatch(AgentConfigEntry config, string at, Action<string, string> error)
    {
        if (config.Match.Count > MaxMatchPairs)
        {
            error(at + ".match", $"at most {MaxMatchPairs} attributes, got {config.Match.Count}");
        }

        foreach (var (key, value) in config.Match)
        {
            string field = JsonPaths.Property(at + ".match", key);
            if (string.IsNullOrWhiteSpace(key) || key.Length > MaxMatchChars)
            {
                error(field, $"an attribute name must be 1 to {MaxMatchChars} characters");
            }
            else if (value.Length > MaxMatchChars)
            {
                error(field, $"a value must be at most {MaxMatchChars} characters");
            }
        }
    }

    private static void CheckBody(AgentConfigEntry config, string at, IOttlValidator? ottl, Action<string, string> error, Action<string, string> warning)
    {
        string type = config.ContentType ?? DefaultContentType;
        if (!ContentTypes.Contains(type, StringComparer.OrdinalIgnoreCase))
        {
            error(at + ".contentType", $"\"{type}\" is not supported; expected one of {string.Join(", ", ContentTypes)}");
            return;
        }

        string body = config.Body ?? "";
        int bytes = Encoding.UTF8.GetByteCount(body);
        if (bytes > MaxBodyBytes)
        {
            error(at + ".body", $"{bytes} bytes exceeds the limit of {MaxBodyBytes} bytes per config");
            return;
        }

        if (string.IsNullOrWhiteSpace(body))
        {
            error(at + ".body", "must not be empty");
            return;
        }

        foreach (var problem in AgentConfigPlaceholders.Unknown(body))
        {
            error(at + ".body", problem);
        }

        if (type.Equals("application/json", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                using var _ = JsonDocument.Parse(body);
            }
            catch (JsonException ex)
            {
                error(at + ".body", $"not valid JSON (body line {(ex.LineNumber ?? 0) + 1}): {ex.Message}");
            }

            return;
        }

        if (type.Contains("yaml", StringComparison.OrdinalIgnoreCase))
        {
            CheckYaml(body, at + ".body", ottl, error, warning);
        }
    }

    private static void CheckYaml(string body, string at, IOttlValidator? ottl, Action<string, string> error, Action<string, string> warning)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(body));
        }
        catch (YamlException ex)
        {
            error(at, $"not valid YAML (body line {ex.Start.Line}, column {ex.Start.Column}): {Innermost(ex).Message}");
            return;
        }

        if (stream.Documents.Count != 1)
        {
            error(at, $"expected one YAML document, found {stream.Documents.Count}");
            return;
        }

        if (stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            error(at, "a config must be a YAML mapping at the top level");
            return;
        }

        // A Collector config: its processors' OTTL is what this project can check.
        if (Child(root, "processors") is YamlMappingNode processors)
        {
            new CollectorOttl(at, ottl ?? new OttlValidator(), error, warning).Check(processors);
        }
    }

    private static Exception Innermost(Exception ex) => ex.InnerException is YamlException inner ? Innermost(inner) : ex;

    private static YamlNode? Child(YamlMappingNode map, string key) =>
        map.Children.TryGetValue(new YamlScalarNode(key), out var node) ? node : null;

    [GeneratedRegex(TenantFileParser.DestinationNamePattern, RegexOptions.CultureInvariant)]
    private static partial Regex NameRegex();

    /// <summary>
    /// The OTTL of a Collector config's <c>transform</c> and <c>filter</c> processors. Statements in the flat
    /// form (<c>trace_statements: ["set(span.attributes[…])"]</c>, <c>trace_conditions</c>) name their context in
    /// every path, as our OTTL does: they are checked fully. In the grouped form
    /// (<c>{context: span, statements: […]}</c>) and the filter's <c>traces.span</c>-style lists, paths are
    /// relative to a context our subset does not infer: those are checked for syntax and function names only.
    /// </summary>
    private sealed class CollectorOttl(string at, IOttlValidator ottl, Action<string, string> error, Action<string, string> warning)
    {
        private static readonly (string Key, string Context)[] TransformLists =
        [
            ("trace_statements", OttlContexts.TransformTraces),
            ("metric_statements", OttlContexts.TransformMetrics),
            ("log_statements", OttlContexts.TransformLogs),
        ];

        private static readonly (string Key, string Context)[] FilterLists =
        [
            ("trace_conditions", OttlContexts.FilterTraces),
            ("metric_conditions", OttlContexts.FilterMetrics),
            ("log_conditions", OttlContexts.FilterLogs),
        ];

        // The filter processor's context-relative lists: traces.span, metrics.datapoint, …
        private static readonly (string Signal, string Context)[] FilterGroups =
        [
            ("traces", OttlContexts.FilterTraces),
            ("metrics", OttlContexts.FilterMetrics),
            ("logs", OttlContexts.FilterLogs),
        ];

        public void Check(YamlMappingNode processors)
        {
            foreach (var (keyNode, value) in processors.Children)
            {
                string name = (keyNode as YamlScalarNode)?.Value ?? "";
                string type = name.Split('/')[0];
                if (value is not YamlMappingNode settings)
                {
                    continue;
                }

                string where = "processors." + name;
                if (type == "transform")
                {
                    foreach (var (key, context) in TransformLists)
                    {
                        if (Child(settings, key) is { } list)
                        {
                            CheckList(list, where + "." + key, context, isCondition: false);
                        }
                    }
                }
                else if (type == "filter")
                {
                    foreach (var (key, context) in FilterLists)
                    {
                        if (Child(settings, key) is { } list)
                        {
                            CheckList(list, where + "." + key, context, isCondition: true);
                        }
                    }

                    foreach (var (signal, context) in FilterGroups)
                    {
                        if (Child(settings, signal) is YamlMappingNode groups)
                        {
                            foreach (var (sub, list) in groups.Children)
                            {
                                CheckRelative(list, $"{where}.{signal}.{(sub as YamlScalarNode)?.Value}", context, isCondition: true);
                            }
                        }
                    }
                }
            }
        }

        private void CheckList(YamlNode list, string where, string context, bool isCondition)
        {
            if (list is not YamlSequenceNode items)
            {
                Problem(list, where, "expected a list");
                return;
            }

            for (int i = 0; i < items.Children.Count; i++)
            {
                var item = items.Children[i];
                string itemPath = $"{where}[{i}]";
                if (item is YamlScalarNode scalar)
                {
                    CheckOne(scalar, itemPath, context, isCondition, fully: true);
                }
                else if (item is YamlMappingNode group)
                {
                    // The grouped form: { context: span, statements: [...], conditions: [...] }.
                    foreach (string key in (ReadOnlySpan<string>)["statements", "conditions"])
                    {
                        if (Child(group, key) is { } inner)
                        {
                            CheckRelative(inner, itemPath + "." + key, context, isCondition || key == "conditions");
                        }
                    }
                }
                else
                {
                    Problem(item, itemPath, "expected an OTTL statement (a string)");
                }
            }
        }

        private void CheckRelative(YamlNode list, string where, string context, bool isCondition)
        {
            if (list is not YamlSequenceNode items)
            {
                Problem(list, where, "expected a list");
                return;
            }

            for (int i = 0; i < items.Children.Count; i++)
            {
                if (items.Children[i] is YamlScalarNode scalar)
                {
                    CheckOne(scalar, $"{where}[{i}]", context, isCondition, fully: false);
                }
                else
                {
                    Problem(items.Children[i], $"{where}[{i}]", "expected an OTTL statement (a string)");
                }
            }
        }

        private void CheckOne(YamlScalarNode node, string where, string context, bool isCondition, bool fully)
        {
            string text = node.Value ?? "";
            var unknown = OttlFunctionNames.Unknown(text, isCondition, out string? syntaxError);
            if (syntaxError is not null)
            {
                Problem(node, where, syntaxError);
                return;
            }

            if (unknown.Count > 0)
            {
                string line = $"body line {node.Start.Line}: {where}: ";
                warning(at, line + $"{string.Join(", ", unknown)} {(unknown.Count == 1 ? "is" : "are")} not in this project's OTTL subset (the Collector may have {(unknown.Count == 1 ? "it" : "them")}); not checked further");
                return;
            }

            // The context string says statement vs condition; a flat-form condition list uses the filter contexts.
            if (fully && ottl.Validate(text, context) is { } problem)
            {
                Problem(node, where, problem);
            }
        }

        private void Problem(YamlNode node, string where, string message) =>
            error(at, $"body line {node.Start.Line}: {where}: {message}");
    }
}

/// <summary>The names of functions an OTTL text calls that our subset does not implement.</summary>
internal static class OttlFunctionNames
{
    public static IReadOnlyList<string> Unknown(string text, bool isCondition, out string? syntaxError)
    {
        syntaxError = null;
        var unknown = new SortedSet<string>(StringComparer.Ordinal);
        try
        {
            if (isCondition)
            {
                Walk(OttlParser.ParseCondition(text), unknown);
            }
            else
            {
                var statement = OttlParser.ParseStatement(text);
                Walk(statement.Editor, unknown);
                if (statement.Where is { } where)
                {
                    Walk(where, unknown);
                }
            }
        }
        catch (OttlParseException ex)
        {
            syntaxError = OttlCompiler.Describe(ex);
        }

        return [.. unknown];
    }

    private static void Walk(OttlBoolExpression expression, SortedSet<string> unknown)
    {
        switch (expression)
        {
            case OttlOr or:
                Walk(or.Left, unknown);
                Walk(or.Right, unknown);
                break;
            case OttlAnd and:
                Walk(and.Left, unknown);
                Walk(and.Right, unknown);
                break;
            case OttlNot not:
                Walk(not.Operand, unknown);
                break;
            case OttlComparison comparison:
                Walk(comparison.Left, unknown);
                Walk(comparison.Right, unknown);
                break;
            case OttlBoolValue value:
                Walk(value.Value, unknown);
                break;
        }
    }

    private static void Walk(OttlValue value, SortedSet<string> unknown)
    {
        switch (value)
        {
            case OttlCall call:
                if (OttlFunctionRegistry.Find(call.Name) is null)
                {
                    unknown.Add(call.Name);
                }

                foreach (var argument in call.Arguments)
                {
                    Walk(argument.Value, unknown);
                }

                break;
            case OttlList list:
                foreach (var item in list.Items)
                {
                    Walk(item, unknown);
                }

                break;
        }
    }
}
