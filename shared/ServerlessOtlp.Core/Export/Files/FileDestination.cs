using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Export.Files;

/// <summary>The fields of a <c>file</c> destination.</summary>
public sealed record FileSettings : DestinationSettings
{
    /// <summary>The directory of the <c>.jsonl</c> files: relative, under the operator's root and the tenant's namespace (<see cref="FileExportOptions"/>).</summary>
    public string? Path { get; init; }
}

/// <summary>The <c>file</c> kind: OTLP/JSON lines on a disk the operator names.</summary>
public sealed class FileDestination : DestinationFactory<FileSettings>
{
    public const string KindName = "file";

    public override string Kind => KindName;

    public override IReadOnlyList<Signal> Signals { get; } = [Signal.Traces, Signal.Metrics, Signal.Logs];

    protected override JsonTypeInfo<FileSettings> SettingsJson => FileJsonContext.Default.FileSettings;

    public override IDestinationExporter CreateExporter(DestinationServices services) => new FileExporter(services.Settings.Files);

    protected override void Validate(DestinationConfig destination, FileSettings settings, DestinationCheck check)
    {
        if (!check.Rules.AnyFilePath)
        {
            if (FileDestinationPaths.CheckRelative(settings.Path) is { } problem)
            {
                check.Error("path", problem);
            }
        }
        else if (string.IsNullOrWhiteSpace(settings.Path))
        {
            check.Error("path", "is required for kind file (the directory the .jsonl files go to)");
        }

        if (destination.Endpoint is not null)
        {
            check.Error("endpoint", "is not used by kind file; it writes to path");
        }

        if (destination.Headers.Count > 0)
        {
            check.Error("headers", "are not used by kind file");
        }

        if (destination.Compression is not null)
        {
            check.Error("compression", "is not used by kind file");
        }
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(FileSettings))]
internal sealed partial class FileJsonContext : JsonSerializerContext;
