using System.Collections;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace ServerlessOtlp.Tenants;

/// <summary>
/// The one set of <see cref="JsonSerializerOptions"/> for tenant JSON, used to read files (after
/// <see cref="TenantFileParser"/> checked their shape) and to store configs. Comments and
/// trailing commas are allowed in files; empty lists and nulls are not written.
/// </summary>
public static class TenantJson
{
    public static JsonSerializerOptions Options { get; } = Create();

    /// <summary>A config as stored: compact, without its API keys.</summary>
    public static string SerializeForStore(TenantConfig config) =>
        JsonSerializer.Serialize(config with { ApiKeys = null }, Options);

    public static TenantConfig DeserializeStored(string json) =>
        JsonSerializer.Deserialize<TenantConfig>(json, Options) ?? throw new JsonException("stored tenant config is null");

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions
        {
            PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            ReadCommentHandling = JsonCommentHandling.Skip,
            AllowTrailingCommas = true,
            TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { SkipEmptyCollections } },
        };
        options.Converters.Add(new DurationJsonConverter());

        // Signal has no member-name attributes: camelCase gives "traces", "metrics", "logs".
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase, allowIntegerValues: false));
        options.MakeReadOnly();
        return options;
    }

    private static void SkipEmptyCollections(JsonTypeInfo type)
    {
        foreach (var property in type.Properties)
        {
            if (typeof(IEnumerable).IsAssignableFrom(property.PropertyType) && property.PropertyType != typeof(string))
            {
                property.ShouldSerialize = static (_, value) => value is not (null or ICollection { Count: 0 });
            }
        }
    }
}
