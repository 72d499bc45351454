using System.Text.RegularExpressions;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Compose;

/// <summary>
/// infra/compose/docker-compose.yml as plain data (YAML merge keys resolved), with the few views
/// the rules need: services, their profiles, ports they publish and ports their containers listen on.
/// </summary>
internal sealed partial class ComposeModel
{
    public static readonly string Directory = Path.Combine(RepoRoot.Path, "infra", "compose");

    public static readonly string FilePath = Path.Combine(Directory, "docker-compose.yml");

    private ComposeModel(Dictionary<string, Dictionary<object, object>> services, string text)
    {
        Services = services;
        Text = text;
    }

    public IReadOnlyDictionary<string, Dictionary<object, object>> Services { get; }

    /// <summary>The file as written (comments included).</summary>
    public string Text { get; }

    public static ComposeModel Load()
    {
        string text = File.ReadAllText(FilePath);
        var root = (Dictionary<object, object>)LoadYaml(text)!;
        var services = ((Dictionary<object, object>)root["services"]).ToDictionary(
            kv => (string)kv.Key,
            kv => (Dictionary<object, object>)kv.Value,
            StringComparer.Ordinal);
        return new ComposeModel(services, text);
    }

    /// <summary>Any YAML document as plain data (<see cref="YamlData"/>).</summary>
    public static object? LoadYaml(string text) => YamlData.Load(text);

    public static IReadOnlyList<string> Profiles(Dictionary<object, object> service) =>
        service.TryGetValue("profiles", out var p) ? ((List<object>)p).Cast<string>().ToList() : [];

    /// <summary>depends_on in either form: service name → required (true unless <c>required: false</c>).</summary>
    public static IReadOnlyDictionary<string, bool> DependsOn(Dictionary<object, object> service)
    {
        if (!service.TryGetValue("depends_on", out var value))
        {
            return new Dictionary<string, bool>();
        }

        return value switch
        {
            List<object> list => list.Cast<string>().ToDictionary(s => s, _ => true, StringComparer.Ordinal),
            Dictionary<object, object> map => map.ToDictionary(
                kv => (string)kv.Key,
                kv => kv.Value is not Dictionary<object, object> o || !o.TryGetValue("required", out var r) || !string.Equals((string)r, "false", StringComparison.OrdinalIgnoreCase),
                StringComparer.Ordinal),
            _ => throw new InvalidDataException("depends_on is neither a list nor a map"),
        };
    }

    /// <summary>The (host, container) pairs of <c>ports:</c> in the short "HOST:CONTAINER" form this file uses.</summary>
    public static IReadOnlyList<(int Host, int Container)> PublishedPorts(Dictionary<object, object> service)
    {
        if (!service.TryGetValue("ports", out var value))
        {
            return [];
        }

        return ((List<object>)value).Cast<string>().Select(p =>
        {
            var m = PortMapping().Match(p);
            Assert.True(m.Success, $"port mapping \"{p}\" is not HOST:CONTAINER");
            return (int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
        }).ToList();
    }

    /// <summary>Ports the service's container listens on, as the file says: the container side of <c>ports:</c>, and <c>expose:</c>.</summary>
    public static IReadOnlySet<int> ContainerPorts(Dictionary<object, object> service)
    {
        var ports = PublishedPorts(service).Select(p => p.Container).ToHashSet();
        if (service.TryGetValue("expose", out var expose))
        {
            foreach (string p in ((List<object>)expose).Cast<string>())
            {
                ports.Add(int.Parse(p, System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return ports;
    }

    /// <summary>Bind mounts "SOURCE:TARGET[:ro]" whose source is a path (named volumes have none), the source relative to this directory.</summary>
    public static IReadOnlyList<(string Source, string Target)> BindMounts(Dictionary<object, object> service)
    {
        if (!service.TryGetValue("volumes", out var value))
        {
            return [];
        }

        return ((List<object>)value).Cast<string>()
            .Select(v => v.Split(':'))
            .Where(parts => parts[0].StartsWith('.') || parts[0].StartsWith('/'))
            .Select(parts => (Path.GetFullPath(Path.Combine(Directory, parts[0])), parts[1]))
            .ToList();
    }

    /// <summary>A service's environment as a map (this file uses the map form).</summary>
    public static IReadOnlyDictionary<string, string> Environment(Dictionary<object, object> service) =>
        service.TryGetValue("environment", out var env)
            ? ((Dictionary<object, object>)env).ToDictionary(kv => (string)kv.Key, kv => kv.Value as string ?? "", StringComparer.Ordinal)
            : new Dictionary<string, string>();

    /// <summary>A service's command as one string (either form).</summary>
    public static string Command(Dictionary<object, object> service) =>
        service.TryGetValue("command", out var c) ? c as string ?? string.Join(' ', ((List<object>)c).Cast<string>()) : "";

    [GeneratedRegex(@"^(\d+):(\d+)$")]
    private static partial Regex PortMapping();
}
