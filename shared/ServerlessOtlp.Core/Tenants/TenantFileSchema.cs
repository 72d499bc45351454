using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Schema;
using System.Text.Json.Serialization.Metadata;
using ServerlessOtlp.Export;

namespace ServerlessOtlp.Tenants;

/// <summary>
/// The tenant file's JSON Schema (draft 2020-12), generated from the model and the options the
/// parser binds with, so that it cannot drift from them: editors complete and check a file that
/// names it in <c>"$schema"</c>. Each destination kind's own fields apply when <c>kind</c> names it.
/// The parser stays the authority for what a schema cannot say (rules across fields, secrets, OTTL).
/// Checked in as <c>schemas/tenant-file.schema.json</c>; <c>otlpctl tenants schema</c> prints it.
/// </summary>
public static class TenantFileSchema
{
    public const string Draft = "https://json-schema.org/draft/2020-12/schema";

    // ConfigDuration's syntax: "0", or numbers with units ("10s", "1m30s", "1.5s").
    private const string DurationPattern = @"^(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$";

    private static readonly JsonSchemaExporterOptions ExporterOptions = new()
    {
        TreatNullObliviousAsNonNullable = true,
        TransformSchemaNode = Transform,
    };

    /// <summary>The schema as checked in: indented, \n line ends, a final newline.</summary>
    public static string Generate()
    {
        var schema = (JsonObject)TenantJson.Options.GetJsonSchemaAsNode(typeof(TenantFile), ExporterOptions);
        var root = new JsonObject
        {
            ["$schema"] = Draft,
            ["title"] = "ServerlessOtlp tenant file",
            ["description"] = "Tenants, their keys, sampling, transforms and destinations (CONTRACTS.md, \"Tenant file\"). Generated from the parser's model; `otlpctl tenants apply -f FILE` validates what a schema cannot.",
        };
        foreach (var (name, value) in schema.ToList())
        {
            schema.Remove(name);
            root[name] = value;
        }

        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }).ReplaceLineEndings("\n") + "\n";
    }

    private static JsonNode Transform(JsonSchemaExporterContext context, JsonNode schema)
    {
        var type = context.TypeInfo.Type;
        if (type == typeof(TimeSpan) || type == typeof(TimeSpan?))
        {
            return new JsonObject
            {
                ["type"] = type == typeof(TimeSpan?) ? new JsonArray("string", "null") : "string",
                ["pattern"] = DurationPattern,
                ["description"] = "A duration: " + ConfigDuration.Expected,
            };
        }

        if (schema is not JsonObject obj || context.TypeInfo.Kind != JsonTypeInfoKind.Object)
        {
            return schema;
        }

        if (type == typeof(DestinationConfig))
        {
            return WithKinds(obj);
        }

        // The parser refuses unknown fields (a typo must not pass as an ignored setting).
        if (obj.ContainsKey("properties"))
        {
            obj["additionalProperties"] = false;
        }

        return obj;
    }

    /// <summary>
    /// A destination: the common fields, <c>kind</c> one of the kinds, and each kind's own fields when
    /// <c>kind</c> names it (<c>unevaluatedProperties</c> refuses the rest, as the parser does).
    /// </summary>
    private static JsonObject WithKinds(JsonObject destination)
    {
        destination.Remove("additionalProperties");
        if (destination["properties"] is JsonObject properties)
        {
            properties["kind"] = new JsonObject { ["enum"] = new JsonArray([.. DestinationKinds.Names.Select(n => (JsonNode)n)]) };
        }

        var perKind = new JsonArray();
        foreach (var factory in DestinationKinds.Factories)
        {
            var own = factory.SettingsJson is { } settings
                ? TenantJson.Options.GetJsonSchemaAsNode(settings.Type, ExporterOptions)["properties"]?.DeepClone() as JsonObject
                : null;
            perKind.Add((JsonNode)new JsonObject
            {
                ["if"] = new JsonObject
                {
                    ["properties"] = new JsonObject { ["kind"] = new JsonObject { ["const"] = factory.Kind } },
                    ["required"] = new JsonArray("kind"),
                },
                ["then"] = new JsonObject { ["properties"] = own ?? new JsonObject() },
            });
        }

        destination["allOf"] = perKind;
        destination["unevaluatedProperties"] = false;
        return destination;
    }
}
