using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace ServerlessOtlp.Tenants;

/// <summary>Field paths as error messages print them: <c>tenants[0].destinations[1].headers["X-Scope-OrgID"]</c>.</summary>
internal static class JsonPaths
{
    public static string Property(string parent, string name)
    {
        if (!IsIdentifier(name))
        {
            return parent + "[" + JsonSerializer.Serialize(name, CoreJsonContext.Default.String) + "]";
        }

        return parent.Length == 0 ? name : parent + "." + name;
    }

    public static string Index(string parent, int index) => parent + "[" + index + "]";

    /// <summary>The enclosing field's path ("" for a top-level field).</summary>
    public static string Parent(string path)
    {
        if (path.EndsWith(']'))
        {
            int open = path.Length >= 2 && path[^2] == '"' ? path.LastIndexOf("[\"", StringComparison.Ordinal) : path.LastIndexOf('[');
            return open <= 0 ? "" : path[..open];
        }

        int dot = path.LastIndexOf('.');
        return dot < 0 ? "" : path[..dot];
    }

    private static bool IsIdentifier(string name)
    {
        if (name.Length == 0 || !(char.IsAsciiLetter(name[0]) || name[0] == '_'))
        {
            return false;
        }

        foreach (char c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c == '_'))
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>
/// The line of every field and list element of a JSON text, by path, so that errors found in
/// the model can say where they are. Built with a reader pass that also reports JSON syntax
/// errors (as <see cref="JsonException"/>) and duplicate fields.
/// </summary>
internal sealed class JsonLineMap
{
    private readonly Dictionary<string, int> _lines = new(StringComparer.Ordinal);

    public static JsonLineMap Build(ReadOnlySpan<byte> utf8, JsonReaderOptions options, Action<string, string> duplicate)
    {
        var map = new JsonLineMap();
        var reader = new Utf8JsonReader(utf8, options);
        var frames = new Stack<Frame>();
        string? pending = null;
        int line = 1;
        int scanned = 0;

        while (reader.Read())
        {
            int start = (int)reader.TokenStartIndex;
            line += utf8[scanned..start].Count((byte)'\n');
            scanned = start;

            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName:
                {
                    var frame = frames.Peek();
                    string name = reader.GetString()!;
                    string path = JsonPaths.Property(frame.Path, name);
                    if (!frame.Names!.Add(name))
                    {
                        duplicate(path, $"duplicate field \"{name}\"");
                    }

                    map._lines.TryAdd(path, line);
                    pending = path;
                    break;
                }

                case JsonTokenType.StartObject or JsonTokenType.StartArray:
                {
                    string path = map.ValuePath(frames, ref pending, line);
                    frames.Push(new Frame(path, reader.TokenType == JsonTokenType.StartArray));
                    break;
                }

                case JsonTokenType.EndObject or JsonTokenType.EndArray:
                    frames.Pop();
                    break;

                case JsonTokenType.Comment:
                    break;

                default:
                    map.ValuePath(frames, ref pending, line);
                    break;
            }
        }

        return map;
    }

    /// <summary>The line of <paramref name="path"/>, or of the nearest enclosing field that has one.</summary>
    public int? LineOf(string path)
    {
        while (true)
        {
            if (_lines.TryGetValue(path, out int line))
            {
                return line;
            }

            if (path.Length == 0)
            {
                return null;
            }

            path = JsonPaths.Parent(path);
        }
    }

    private string ValuePath(Stack<Frame> frames, ref string? pending, int line)
    {
        if (frames.Count == 0)
        {
            _lines.TryAdd("", line);
            return "";
        }

        var parent = frames.Peek();
        if (parent.IsArray)
        {
            string path = JsonPaths.Index(parent.Path, parent.NextIndex++);
            _lines.TryAdd(path, line);
            return path;
        }

        string property = pending ?? parent.Path;
        pending = null;
        return property;
    }

    private sealed class Frame(string path, bool isArray)
    {
        public string Path { get; } = path;

        public bool IsArray { get; } = isArray;

        public int NextIndex { get; set; }

        public HashSet<string>? Names { get; } = isArray ? null : new HashSet<string>(StringComparer.Ordinal);
    }
}

/// <summary>
/// Checks a JSON document against the model's shape as <see cref="TenantJson.Options"/> sees it:
/// unknown fields (typos), wrong value kinds, unknown enum names, bad durations, missing
/// required fields. Only a document that passes is deserialized.
/// </summary>
internal sealed class JsonShape(JsonSerializerOptions options, Action<string, string> error)
{
    public const string HashSeedRefusal =
        "hash_seed is refused: the Collector's hash-seed sampling mode is not interoperable with the " +
        "OpenTelemetry specification's consistent probability sampling (the \"th\" threshold in tracestate) " +
        "that this pipeline implements; use mode \"proportional\" or \"equalizing\"";

    public void Check(JsonElement element, Type type, string path, string label)
    {
        if (element.ValueKind == JsonValueKind.Null)
        {
            error(path, "null is not allowed; leave the field out instead");
            return;
        }

        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type == typeof(string))
        {
            Expect(element, JsonValueKind.String, path, "a string");
        }
        else if (type == typeof(long) || type == typeof(int))
        {
            if (Expect(element, JsonValueKind.Number, path, "an integer")
                && !(type == typeof(long) ? element.TryGetInt64(out _) : element.TryGetInt32(out _)))
            {
                error(path, $"expected an integer{(type == typeof(int) ? " up to " + int.MaxValue : "")}, got {element.GetRawText()}");
            }
        }
        else if (type == typeof(double))
        {
            Expect(element, JsonValueKind.Number, path, "a number");
        }
        else if (type == typeof(bool))
        {
            if (element.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            {
                error(path, $"expected true or false, got {Describe(element)}");
            }
        }
        else if (type == typeof(TimeSpan))
        {
            if (Expect(element, JsonValueKind.String, path, "a duration string") && !ConfigDuration.TryParse(element.GetString(), out _))
            {
                error(path, $"invalid duration \"{element.GetString()}\"; {ConfigDuration.Expected}");
            }
        }
        else if (type.IsEnum)
        {
            CheckEnum(element, type, path, label);
        }
        else
        {
            var info = options.GetTypeInfo(type);
            switch (info.Kind)
            {
                case JsonTypeInfoKind.Object:
                    CheckObject(element, info, path);
                    break;
                case JsonTypeInfoKind.Enumerable:
                    if (Expect(element, JsonValueKind.Array, path, "a list"))
                    {
                        int i = 0;
                        string itemLabel = label.EndsWith('s') ? label[..^1] : label;
                        foreach (var item in element.EnumerateArray())
                        {
                            Check(item, info.ElementType!, JsonPaths.Index(path, i++), itemLabel);
                        }
                    }

                    break;
                case JsonTypeInfoKind.Dictionary:
                    if (Expect(element, JsonValueKind.Object, path, "an object"))
                    {
                        foreach (var property in element.EnumerateObject())
                        {
                            Check(property.Value, info.ElementType!, JsonPaths.Property(path, property.Name), property.Name);
                        }
                    }

                    break;
                default:
                    throw new NotSupportedException($"tenant model type {type} has no shape check");
            }
        }
    }

    /// <summary>Names of an enum's members as <see cref="TenantJson.Options"/> writes them, in value order.</summary>
    public static IReadOnlyList<string> EnumNames(Type type)
    {
        // Asked of the converter itself, so the names cannot drift from what is read and written.
        var info = TenantJson.Options.GetTypeInfo(type);
        var names = new List<string>();
        foreach (object value in Enum.GetValuesAsUnderlyingType(type))
        {
            names.Add(JsonSerializer.SerializeToElement(Enum.ToObject(type, value), info).GetString()!);
        }

        return names;
    }

    private static bool IsHashSeed(string text) =>
        text.Replace("_", "", StringComparison.Ordinal).Replace("-", "", StringComparison.Ordinal).Equals("hashseed", StringComparison.OrdinalIgnoreCase);

    private void CheckObject(JsonElement element, JsonTypeInfo info, string path)
    {
        if (!Expect(element, JsonValueKind.Object, path, "an object"))
        {
            return;
        }

        // A destination's kind decides which other fields it has (its factory's settings).
        var (kindFields, kindKnown) = KindFields(element, info, path);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in element.EnumerateObject())
        {
            string propertyPath = JsonPaths.Property(path, property.Name);
            var known = Find(info, property.Name) ?? (kindFields is null ? null : Find(kindFields, property.Name));
            if (known is not null)
            {
                seen.Add(known.Name);
                Check(property.Value, known.PropertyType, propertyPath, known.Name);
            }
            else if (IsHashSeed(property.Name))
            {
                error(propertyPath, HashSeedRefusal);
            }
            else if (kindKnown && info.Type == typeof(DestinationConfig) && KindsWithField(property.Name) is { Count: > 0 } owners)
            {
                error(propertyPath, $"is only for kind{(owners.Count > 1 ? "s" : "")} {string.Join(" and ", owners)}; a {element.GetProperty("kind").GetString()} destination has no such field");
            }
            else if (kindKnown)
            {
                error(propertyPath, UnknownField([.. Fields(info), .. kindFields is null ? [] : Fields(kindFields)], property.Name));
            }
        }

        foreach (var property in info.Properties)
        {
            if (property.IsRequired && !seen.Contains(property.Name))
            {
                error(JsonPaths.Property(path, property.Name), "is required");
            }
        }
    }

    /// <summary>
    /// For a destination, the contract of its kind's own fields (null when it has none) and whether
    /// the kind is known; an unknown kind is reported once, and its other fields are not judged.
    /// </summary>
    private (JsonTypeInfo? Fields, bool KindKnown) KindFields(JsonElement element, JsonTypeInfo info, string path)
    {
        if (info.Type != typeof(DestinationConfig)
            || !element.TryGetProperty("kind", out var kind) || kind.ValueKind != JsonValueKind.String)
        {
            return (null, true);
        }

        if (Export.DestinationKinds.Find(kind.GetString()) is not { } factory)
        {
            error(JsonPaths.Property(path, "kind"), $"unknown kind \"{kind.GetString()}\"; expected one of {string.Join(", ", Export.DestinationKinds.Names)}");
            return (null, false);
        }

        return (factory.SettingsJson is { } contract ? options.GetTypeInfo(contract.Type) : null, true);
    }

    /// <summary>The kinds whose own fields include <paramref name="name"/>.</summary>
    private List<string> KindsWithField(string name) =>
        [.. Export.DestinationKinds.Factories.Where(f => f.SettingsJson is { } c && Find(options.GetTypeInfo(c.Type), name) is not null).Select(f => f.Kind)];

    // [JsonIgnore] members (TenantConfig.Version, DestinationConfig.Settings) stay in the contract's
    // property list but are not fields of the file; nor is the extension data that holds a kind's fields.
    private static IEnumerable<JsonPropertyInfo> Fields(JsonTypeInfo info) =>
        info.Properties.Where(p => !p.IsExtensionData && p.AttributeProvider?.IsDefined(typeof(JsonIgnoreAttribute), inherit: true) != true);

    private static JsonPropertyInfo? Find(JsonTypeInfo info, string name)
    {
        foreach (var property in Fields(info))
        {
            if (property.Name == name)
            {
                return property;
            }
        }

        return null;
    }

    private static string UnknownField(IReadOnlyList<JsonPropertyInfo> fields, string name)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        var names = new List<string>();
        foreach (var property in fields)
        {
            names.Add(property.Name);
            int d = EditDistance(name.ToLowerInvariant(), property.Name.ToLowerInvariant());
            if (d < bestDistance)
            {
                (best, bestDistance) = (property.Name, d);
            }
        }

        // A close name is a typo (or wrong case: names are case-sensitive); otherwise list them all.
        return best is not null && bestDistance <= Math.Max(1, name.Length / 4)
            ? $"unknown field \"{name}\"; did you mean \"{best}\"?"
            : $"unknown field \"{name}\"; expected one of {string.Join(", ", names)}";
    }

    private void CheckEnum(JsonElement element, Type type, string path, string label)
    {
        if (!Expect(element, JsonValueKind.String, path, "a string"))
        {
            return;
        }

        string value = element.GetString()!;
        var names = EnumNames(type);
        if (names.Contains(value))
        {
            return;
        }

        error(path, type == typeof(SamplingMode) && IsHashSeed(value)
            ? HashSeedRefusal
            : $"unknown {label} \"{value}\"; expected one of {string.Join(", ", names)}");
    }

    private bool Expect(JsonElement element, JsonValueKind kind, string path, string what)
    {
        if (element.ValueKind == kind)
        {
            return true;
        }

        error(path, $"expected {what}, got {Describe(element)}");
        return false;
    }

    private static string Describe(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "a list",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => element.GetRawText(),
        _ => "null",
    };

    private static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
