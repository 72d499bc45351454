using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Text.RegularExpressions;
using Microsoft.Azure.Functions.Worker;
using ServerlessOtlp.Functions;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Functions;

/// <summary>
/// functions/ServerlessOtlp.Functions/openapi.yaml against the code: the [HttpTrigger] routes and
/// methods (by reflection over the Functions assembly), the function-key security, and the JSON
/// names and nullability of the request and response types (as <see cref="AdminFunctions.Json"/>
/// writes them), or of the anonymous objects the functions answer with (read from their source).
/// </summary>
public sealed partial class AdminApiDocumentTests
{
    private static readonly string FunctionsDirectory = Path.Combine(RepoRoot.Path, "functions", "ServerlessOtlp.Functions");

    private static readonly Assembly FunctionsAssembly = typeof(AdminFunctions).Assembly;

    /// <summary>Schemas that are anonymous objects in the code (<c>new { error = … }</c>), not C# types.</summary>
    private static readonly string[] AnonymousSchemas = ["Error", "ReplayAudits", "ReplayCursorsStarted", "ReplayUnavailable"];

    /// <summary><see cref="AdminFunctions.Json"/> (a copy, with the default resolver the serializer would fill in on first use).</summary>
    private static readonly JsonSerializerOptions ResponseJson = new(AdminFunctions.Json) { TypeInfoResolver = new DefaultJsonTypeInfoResolver() };

    private static Dictionary<object, object> Document() =>
        (Dictionary<object, object>)YamlData.Load(File.ReadAllText(Path.Combine(FunctionsDirectory, "openapi.yaml")))!;

    private static Dictionary<object, object> Map(object value) => (Dictionary<object, object>)value;

    /// <summary>Every HTTP-triggered function: (METHOD, /route) → (function name, auth level).</summary>
    private static Dictionary<(string Method, string Path), (string Function, AuthorizationLevel Auth)> HttpTriggers()
    {
        var triggers = new Dictionary<(string, string), (string, AuthorizationLevel)>();
        foreach (var method in FunctionsAssembly.GetTypes().SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static)))
        {
            var function = method.GetCustomAttribute<FunctionAttribute>();
            var trigger = method.GetParameters().Select(p => p.GetCustomAttribute<HttpTriggerAttribute>()).SingleOrDefault(a => a != null);
            if (function == null || trigger == null)
            {
                continue;
            }

            Assert.False(string.IsNullOrEmpty(trigger.Route), $"{function.Name}: an HTTP trigger without a route answers at its function name; give it one");
            Assert.NotNull(trigger.Methods);
            foreach (string verb in trigger.Methods!)
            {
                triggers.Add((verb.ToUpperInvariant(), "/" + trigger.Route), (function.Name, trigger.AuthLevel));
            }
        }

        return triggers;
    }

    /// <summary>Every operation in the document: (METHOD, path) → the operation.</summary>
    private static Dictionary<(string Method, string Path), Dictionary<object, object>> Operations(Dictionary<object, object> document) =>
        Map(document["paths"]).SelectMany(path => Map(path.Value).Select(op => (Key: (((string)op.Key).ToUpperInvariant(), (string)path.Key), Op: Map(op.Value))))
            .ToDictionary(x => x.Key, x => x.Op);

    [Fact]
    public void Every_http_trigger_is_in_the_document_and_nothing_else()
    {
        var triggers = HttpTriggers();
        Assert.Equal(3, triggers.Count); // admin/status, admin/replay, admin/deadletters/redrive
        var operations = Operations(Document());
        Assert.Equal(triggers.Keys.Order(), operations.Keys.Order());
        Assert.All(triggers, t => Assert.Equal(t.Value.Function, operations[t.Key]["operationId"]));
    }

    [Fact]
    public void The_servers_use_the_hosts_route_prefix()
    {
        // Without extensions.http.routePrefix in host.json, HTTP functions are served under /api.
        using var host = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoRoot.Path, "host.json")));
        string prefix = host.RootElement.TryGetProperty("extensions", out var ext) && ext.TryGetProperty("http", out var http) && http.TryGetProperty("routePrefix", out var p)
            ? "/" + p.GetString()
            : "/api";
        var servers = ((List<object>)Document()["servers"]).Select(s => (string)Map(s)["url"]).ToList();
        Assert.NotEmpty(servers);
        Assert.All(servers, url => Assert.EndsWith(prefix, url, StringComparison.Ordinal));
    }

    [Fact]
    public void Function_key_operations_take_the_key_in_the_header_or_the_code_parameter()
    {
        var document = Document();
        var schemes = Map(Map(document["components"])["securitySchemes"]);
        var byLocation = schemes.Values.Select(Map).ToDictionary(s => (string)s["in"], s => (string)s["name"], StringComparer.Ordinal);
        Assert.Equal(new Dictionary<string, string> { ["header"] = "x-functions-key", ["query"] = "code" }, byLocation);

        var operations = Operations(document);
        foreach (var (key, (function, auth)) in HttpTriggers())
        {
            Assert.Equal(AuthorizationLevel.Function, auth);
            var security = ((List<object>)operations[key]["security"]).Select(s => (string)Assert.Single(Map(s)).Key).ToHashSet(StringComparer.Ordinal);
            Assert.True(schemes.Keys.Cast<string>().ToHashSet(StringComparer.Ordinal).SetEquals(security), $"{function}: security should offer each function-key scheme");
            Assert.True(Map(operations[key]["responses"]).ContainsKey("401"), $"{function}: a missing key is answered 401");
        }
    }

    [Fact]
    public void Request_bodies_are_the_types_the_functions_deserialize()
    {
        var operations = Operations(Document());
        Assert.Equal(nameof(ReplayRequest), BodySchema(operations[("POST", "/admin/replay")]));
        Assert.Equal(nameof(RedriveRequest), BodySchema(operations[("POST", "/admin/deadletters/redrive")]));
        Assert.False(operations.ContainsKey(("GET", "/admin/replay")));

        static string BodySchema(Dictionary<object, object> operation) =>
            RefName(Map(Map(Map(Map(operation["requestBody"])["content"])["application/json"])["schema"]));
    }

    [Fact]
    public void Named_schemas_have_the_json_names_and_nullability_of_the_csharp_types()
    {
        var schemas = Map(Map(Document()["components"])["schemas"]);
        var named = schemas.Keys.Cast<string>().Except(AnonymousSchemas).ToList();
        Assert.Contains(nameof(AdminStatus), named);
        var nullability = new NullabilityInfoContext();
        foreach (string name in named)
        {
            var type = FunctionsAssembly.GetType("ServerlessOtlp.Functions." + name);
            Assert.True(type != null, $"schema {name} names no type in ServerlessOtlp.Functions (or add it to AnonymousSchemas)");
            var schema = Map(schemas[name]);
            var properties = Map(schema["properties"]);

            // The names the admin responses are written with (web defaults: camelCase).
            var json = ResponseJson.GetTypeInfo(type!).Properties;
            Assert.Equal(json.Select(p => p.Name).Order(StringComparer.Ordinal), properties.Keys.Cast<string>().Order(StringComparer.Ordinal));

            var nullable = json.Where(p => IsNullable(type!, p, nullability)).Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var (property, value) in properties.Select(kv => ((string)kv.Key, Map(kv.Value))))
            {
                bool documented = value.TryGetValue("nullable", out var n) && (string)n == "true";
                Assert.True(nullable.Contains(property) == documented, $"{name}.{property}: nullable in C# is {nullable.Contains(property)}, in the document {documented}");
            }

            // Responses: what is never null is always there. Requests: every field is optional.
            var required = schema.TryGetValue("required", out var r) ? ((List<object>)r).Cast<string>().ToHashSet(StringComparer.Ordinal) : [];
            var expected = name.EndsWith("Request", StringComparison.Ordinal) ? [] : json.Select(p => p.Name).Where(p => !nullable.Contains(p)).ToHashSet(StringComparer.Ordinal);
            Assert.True(expected.SetEquals(required), $"{name}: required should be [{string.Join(", ", expected.Order(StringComparer.Ordinal))}]");
        }
    }

    [Fact]
    public void Anonymous_answers_match_the_objects_in_the_functions_source()
    {
        // new { error = "…" }, new { error = ex.Message, started = started }, new { cursors = started }, …
        var inCode = Directory.GetFiles(FunctionsDirectory, "Admin*.cs")
            .SelectMany(f => AnonymousObject().Matches(File.ReadAllText(f)))
            .Select(m => string.Join(",", MemberName().Matches(m.Groups[1].Value).Select(n => n.Groups[1].Value).Order(StringComparer.Ordinal)))
            .ToHashSet(StringComparer.Ordinal);
        Assert.Contains("error", inCode);

        var schemas = Map(Map(Document()["components"])["schemas"]);
        var documented = AnonymousSchemas
            .Select(s => string.Join(",", Map(Map(schemas[s])["properties"]).Keys.Cast<string>().Order(StringComparer.Ordinal)))
            .ToHashSet(StringComparer.Ordinal);
        Assert.Equal(inCode.Order(StringComparer.Ordinal), documented.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Every_reference_resolves_and_every_response_status_is_one_the_code_answers()
    {
        string text = File.ReadAllText(Path.Combine(FunctionsDirectory, "openapi.yaml"));
        var components = Map(Document()["components"]);
        foreach (Match m in Reference().Matches(text))
        {
            Assert.True(Map(components[m.Groups[1].Value]).ContainsKey(m.Groups[2].Value), $"{m.Value} does not resolve");
        }

        // The statuses the functions create (HttpStatusCode.X), and 401 from the host.
        var codes = Directory.GetFiles(FunctionsDirectory, "Admin*.cs")
            .SelectMany(f => StatusCode().Matches(File.ReadAllText(f)))
            .Select(m => ((int)Enum.Parse<System.Net.HttpStatusCode>(m.Groups[1].Value)).ToString(System.Globalization.CultureInfo.InvariantCulture))
            .Append("401")
            .ToHashSet(StringComparer.Ordinal);
        var documented = Operations(Document()).Values.SelectMany(op => Map(op["responses"]).Keys.Cast<string>()).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(codes.Order(StringComparer.Ordinal), documented.Order(StringComparer.Ordinal));
    }

    private static string RefName(Dictionary<object, object> schema) => ((string)schema["$ref"]).Split('/')[^1];

    /// <summary>Nullable&lt;T&gt;, or a reference type annotated nullable (the records' positional parameters).</summary>
    private static bool IsNullable(Type type, JsonPropertyInfo json, NullabilityInfoContext context)
    {
        if (Nullable.GetUnderlyingType(json.PropertyType) != null)
        {
            return true;
        }

        var property = type.GetProperties().Single(p => string.Equals(p.Name, json.Name, StringComparison.OrdinalIgnoreCase));
        return !property.PropertyType.IsValueType && context.Create(property).ReadState == NullabilityState.Nullable;
    }

    [GeneratedRegex(@"new \{ ([^{}]*) \}")]
    private static partial Regex AnonymousObject();

    [GeneratedRegex(@"(?:^|,)\s*([a-z][A-Za-z]*)\s*=")]
    private static partial Regex MemberName();

    [GeneratedRegex(@"#/components/(\w+)/(\w+)")]
    private static partial Regex Reference();

    [GeneratedRegex(@"HttpStatusCode\.(\w+)")]
    private static partial Regex StatusCode();
}
