using System.Collections;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using ServerlessOtlp.Otlp;

namespace ServerlessOtlp.Tenants;

/// <summary>
/// The one set of <see cref="JsonSerializerOptions"/> for tenant JSON, used to read files (after
/// <see cref="TenantFileParser"/> checked their shape) and to store configs. Comments and
/// trailing commas are allowed in files; empty lists and nulls are not written.
/// </summary>
internal static class TenantJson
{
    public static JsonSerializerOptions Options { get; } = Create();

    /// <summary>A config as stored: compact, without its API keys.</summary>
    public static string SerializeForStore(TenantConfig config) =>
        JsonSerializer.Serialize(config with { ApiKeys = null }, TypeInfo<TenantConfig>());

    public static TenantConfig DeserializeStored(string json) =>
        JsonSerializer.Deserialize(json, TypeInfo<TenantConfig>()) ?? throw new JsonException("stored tenant config is null");

    /// <summary>The metadata of a tenant model type under <see cref="Options"/>.</summary>
    public static JsonTypeInfo<T> TypeInfo<T>() => (JsonTypeInfo<T>)Options.GetTypeInfo(typeof(T));

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions
        {
            PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            ReadCommentHandling = JsonCommentHandling.Skip,
            AllowTrailingCommas = true,
            // The model, then each destination kind's own fields (Export/<kind>/).
            TypeInfoResolver = JsonTypeInfoResolver.Combine([TenantJsonContext.Default, .. Export.DestinationKinds.SettingsResolvers]).WithAddedModifier(SkipEmptyCollections),
        };
        options.Converters.Add(new DurationJsonConverter());

        // Every enum of the model, by name (a generic converter each: the factory needs runtime code
        // generation). Signal has no member-name attributes: camelCase gives "traces", "metrics", "logs".
        AddEnum<Signal>(options);
        AddEnum<SamplingMode>(options);
        AddEnum<TailPolicyType>(options);
        AddEnum<SpanStatusCode>(options);
        AddEnum<TransformErrorMode>(options);
        AddEnum<RedactionPreset>(options);
        AddEnum<DestinationCompression>(options);
        AddEnum<DestinationEncoding>(options);
        options.MakeReadOnly();
        return options;
    }

    private static void AddEnum<T>(JsonSerializerOptions options)
        where T : struct, Enum =>
        options.Converters.Add(new JsonStringEnumConverter<T>(JsonNamingPolicy.CamelCase, allowIntegerValues: false));

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
