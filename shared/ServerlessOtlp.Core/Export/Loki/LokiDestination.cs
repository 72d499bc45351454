using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Export.Loki;

/// <summary>The fields of a <c>loki</c> destination.</summary>
internal sealed record LokiSettings : DestinationSettings
{
    /// <summary>Body encoding: protobuf (snappy, Loki's native form) or JSON; null means protobuf.</summary>
    public DestinationEncoding? Encoding { get; init; }

    /// <summary>Resource attributes that become stream labels (<c>lokiLabels</c>).</summary>
    [JsonPropertyName("lokiLabels")]
    public IReadOnlyList<string> Labels { get; set; } = [];
}

/// <summary>The <c>loki</c> kind: logs to Loki's push API.</summary>
internal sealed class LokiDestination : DestinationFactory<LokiSettings>
{
    public const string KindName = "loki";

    public override string Kind => KindName;

    public override IReadOnlyList<Signal> Signals { get; } = [Signal.Logs];

    protected override JsonTypeInfo<LokiSettings> SettingsJson => LokiJsonContext.Default.LokiSettings;

    public override IDestinationExporter CreateExporter(DestinationServices services) => new LokiExporter(services);

    protected override void Validate(DestinationConfig destination, LokiSettings settings, DestinationCheck check)
    {
        check.Endpoint(destination, KindName);
        check.DistinctNotBlank(settings.Labels, "lokiLabels", "label");
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(LokiSettings))]
internal sealed partial class LokiJsonContext : JsonSerializerContext;
