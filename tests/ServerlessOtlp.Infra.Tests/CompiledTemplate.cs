using System.Diagnostics;
using System.Text.RegularExpressions;

namespace ServerlessOtlp.Infra.Tests;

/// <summary>
/// infra/bicep/main.bicep compiled to ARM JSON by the repository's pinned Bicep CLI, with a
/// small reader over it: nested module deployments (languageVersion 1.0 arrays or 2.0
/// symbolic-name objects), and resolution of the simple expressions a value travels through
/// on its way from main.bicep into a module (parameters, variables, string()).
/// </summary>
public sealed partial class CompiledTemplate
{
    private static readonly Lazy<CompiledTemplate> Main = new(() => Compile("infra/bicep/main.bicep"));

    /// <summary>The compiled main.bicep, compiled once per test run.</summary>
    public static CompiledTemplate Instance => Main.Value;

    private CompiledTemplate(JsonObject root)
    {
        Root = new Deployment("main", root, Parent: null, Arguments: null);
    }

    public Deployment Root { get; }

    /// <summary>Every deployment: main and each module, depth first.</summary>
    public IEnumerable<Deployment> Deployments => Walk(Root);

    /// <summary>The module deployed under <paramref name="name"/> (the Bicep <c>name:</c> of a module).</summary>
    public Deployment Module(string name) =>
        Deployments.SingleOrDefault(d => d.Name == name)
        ?? throw new InvalidOperationException($"main.bicep has no module deployment named '{name}'.");

    public IEnumerable<(Deployment Deployment, JsonObject Resource)> Resources(string type) =>
        from d in Deployments
        from r in d.Resources
        where string.Equals((string?)r["type"], type, StringComparison.OrdinalIgnoreCase) && r["existing"]?.GetValue<bool>() != true
        select (d, r);

    private static IEnumerable<Deployment> Walk(Deployment deployment)
    {
        yield return deployment;
        foreach (var resource in deployment.Resources)
        {
            if ((string?)resource["type"] != "Microsoft.Resources/deployments" ||
                resource["properties"]?["template"] is not JsonObject template)
            {
                continue;
            }

            var child = new Deployment(
                (string)resource["name"]!,
                template,
                deployment,
                resource["properties"]?["parameters"] as JsonObject);
            foreach (var nested in Walk(child))
            {
                yield return nested;
            }
        }
    }

    // ------------------------------------------------------------------ compiling

    /// <summary>Runs <c>.tools/bicep/bicep build FILE --stdout</c> from the repository root.</summary>
    public static CompiledTemplate Compile(string relativePath) =>
        new(JsonNode.Parse(RunBicep("build", relativePath))!.AsObject());

    /// <summary>Runs <c>.tools/bicep/bicep build-params FILE --stdout</c>; returns the parameters JSON.</summary>
    public static JsonObject CompileParameters(string relativePath)
    {
        var output = JsonNode.Parse(RunBicep("build-params", relativePath))!.AsObject();
        // build-params --stdout wraps the parameters file: { "parametersJson": "...", "templateJson": "..." }.
        return output["parametersJson"] is JsonValue text
            ? JsonNode.Parse((string)text!)!.AsObject()
            : output;
    }

    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    private static string RunBicep(string command, string relativePath)
    {
        var bicep = Path.Combine(RepositoryRoot, ".tools", "bicep", "bicep");
        if (!File.Exists(bicep))
        {
            throw new InvalidOperationException(
                $"The Bicep CLI is missing at {bicep}. Install it with `bash .ci/install-bicep.sh` from the repository root.");
        }

        var start = new ProcessStartInfo(bicep)
        {
            WorkingDirectory = RepositoryRoot,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(command);
        start.ArgumentList.Add(relativePath);
        start.ArgumentList.Add("--stdout");
        start.Environment["BICEP_TRACING_ENABLED"] = "false";

        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"bicep {command} {relativePath} failed ({process.ExitCode}):\n{stderr.Result}");
        }

        return stdout;
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ServerlessOtlp.sln")) ||
                Directory.Exists(Path.Combine(dir.FullName, ".git")) ||
                File.Exists(Path.Combine(dir.FullName, ".git")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No repository root (ServerlessOtlp.sln or .git) above {AppContext.BaseDirectory}.");
    }

    // ------------------------------------------------------------------ model

    /// <summary>One template: main, or a module with the arguments its parent passed.</summary>
    public sealed partial record Deployment(string Name, JsonObject Template, Deployment? Parent, JsonObject? Arguments)
    {
        /// <summary>Resources, whichever shape the template uses (array, or symbolic-name object).</summary>
        public IEnumerable<JsonObject> Resources => Template["resources"] switch
        {
            JsonArray array => array.OfType<JsonObject>(),
            JsonObject byName => byName.Select(p => p.Value).OfType<JsonObject>(),
            _ => [],
        };

        public JsonObject Outputs => Template["outputs"] as JsonObject ?? [];

        /// <summary>A resource by its symbolic name (languageVersion 2.0 templates).</summary>
        public JsonObject? Symbol(string symbolicName) => (Template["resources"] as JsonObject)?[symbolicName] as JsonObject;

        /// <summary>The argument a parent passed for <paramref name="parameter"/>, unresolved.</summary>
        public JsonNode? Argument(string parameter) => Arguments?[parameter]?["value"];

        /// <summary>The argument a parent passed for <paramref name="parameter"/>, resolved in the parent.</summary>
        public string? ArgumentValue(string parameter) => Parent?.ResolveString(Argument(parameter));

        /// <summary>
        /// Follows parameters('x'), variables('x'), variables('x').y and string(…) back to a
        /// literal where the template allows it; anything else is returned as it is.
        /// </summary>
        public JsonNode? Resolve(JsonNode? node)
        {
            if (node is not JsonValue value || !value.TryGetValue(out string? text))
            {
                return node;
            }

            if (ParameterExpression().Match(text) is { Success: true } p)
            {
                var name = p.Groups[1].Value;
                if (Arguments?[name] is JsonObject argument)
                {
                    return Parent!.Resolve(argument["value"]);
                }

                return Resolve(Template["parameters"]?[name]?["defaultValue"]);
            }

            if (VariableExpression().Match(text) is { Success: true } v)
            {
                var variable = Template["variables"]?[v.Groups[1].Value];
                if (v.Groups[2].Success)
                {
                    variable = Resolve(variable)?[v.Groups[2].Value];
                }

                return Resolve(variable);
            }

            if (StringExpression().Match(text) is { Success: true } s)
            {
                var inner = Resolve(JsonValue.Create($"[{s.Groups[1].Value}]"));
                return inner is JsonValue resolved && !resolved.ToString().StartsWith('[')
                    ? JsonValue.Create(resolved.ToString())
                    : node;
            }

            return node;
        }

        public string? ResolveString(JsonNode? node) => Resolve(node)?.ToString();

        [GeneratedRegex(@"^\[parameters\('(\w+)'\)\]$")]
        private static partial Regex ParameterExpression();

        [GeneratedRegex(@"^\[variables\('(\w+)'\)(?:\.(\w+))?\]$")]
        private static partial Regex VariableExpression();

        [GeneratedRegex(@"^\[string\((.+)\)\]$")]
        private static partial Regex StringExpression();
    }
}
