using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Export.Otlp;

/// <summary>The <c>otlp</c> kind: OTLP/gRPC to a Collector, Tempo, Jaeger or any OTLP backend.</summary>
internal sealed class OtlpDestination : DestinationFactory<NoSettings>
{
    public const string KindName = "otlp";

    public override string Kind => KindName;

    public override IReadOnlyList<Signal> Signals { get; } = [Signal.Traces, Signal.Metrics, Signal.Logs];

    public override IDestinationExporter CreateExporter(DestinationServices services) => new OtlpGrpcExporter(services);

    protected override void Validate(DestinationConfig destination, NoSettings settings, DestinationCheck check) =>
        check.Endpoint(destination, KindName);
}

/// <summary>The fields of an <c>otlphttp</c> destination.</summary>
internal sealed record OtlpHttpSettings : DestinationSettings
{
    /// <summary>Body encoding: protobuf or OTLP/JSON; null means protobuf.</summary>
    public DestinationEncoding? Encoding { get; init; }
}

/// <summary>The <c>otlphttp</c> kind: OTLP/HTTP, protobuf or JSON.</summary>
internal sealed class OtlpHttpDestination : DestinationFactory<OtlpHttpSettings>
{
    public const string KindName = "otlphttp";

    public override string Kind => KindName;

    public override IReadOnlyList<Signal> Signals { get; } = [Signal.Traces, Signal.Metrics, Signal.Logs];

    protected override JsonTypeInfo<OtlpHttpSettings> SettingsJson => OtlpJsonContext.Default.OtlpHttpSettings;

    public override IDestinationExporter CreateExporter(DestinationServices services) => new OtlpHttpExporter(services);

    protected override void Validate(DestinationConfig destination, OtlpHttpSettings settings, DestinationCheck check) =>
        check.Endpoint(destination, KindName);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(OtlpHttpSettings))]
internal sealed partial class OtlpJsonContext : JsonSerializerContext;
