using System.Text.Json;
using ServerlessOtlp.Export;

namespace ServerlessOtlp.Tenants;

/// <summary>
/// A destination kind's own fields to and from the flat JSON users write, with
/// <see cref="TenantJson.Options"/> and the kind's contract (<see cref="IDestinationFactory.SettingsJson"/>).
/// </summary>
internal static class DestinationSettingsJson
{
    /// <summary>The settings of <paramref name="kind"/> from its fields; null when this build has no such kind or the kind has no fields.</summary>
    public static DestinationSettings? Read(string kind, Dictionary<string, JsonElement> fields)
    {
        if (DestinationKinds.Find(kind)?.SettingsJson is not { } contract)
        {
            return null;
        }

        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var (name, value) in fields)
            {
                writer.WritePropertyName(name);
                value.WriteTo(writer);
            }

            writer.WriteEndObject();
        }

        return (DestinationSettings?)JsonSerializer.Deserialize(buffer.WrittenSpan, TenantJson.Options.GetTypeInfo(contract.Type));
    }

    /// <summary>The fields of <paramref name="settings"/> as written (defaults and empty lists left out); null when there are none.</summary>
    public static Dictionary<string, JsonElement>? Write(DestinationSettings settings)
    {
        if (settings is NoSettings)
        {
            return null;
        }

        var element = JsonSerializer.SerializeToElement(settings, TenantJson.Options.GetTypeInfo(settings.GetType()));
        var fields = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var property in element.EnumerateObject())
        {
            fields[property.Name] = property.Value;
        }

        return fields.Count == 0 ? null : fields;
    }
}
