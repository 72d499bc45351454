using System.Text.Json;
using System.Text.Json.Serialization;
using ServerlessOtlp.Export.PrometheusRemoteWrite;
using ServerlessOtlp.Log;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp;

// Source-generated JSON metadata: the gateway publishes with Native AOT, where reflection-based
// serialization is off. Each context keeps the options its documents were always written with.

/// <summary>The serializer's defaults: node counters, partition-state snapshots, log metadata, strings.</summary>
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(Dictionary<string, long>))]
[JsonSerializable(typeof(Dictionary<string, double[]>))]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(BlobLog.LogMetadata))]
internal sealed partial class CoreJsonContext : JsonSerializerContext;

/// <summary>Queue messages (<see cref="DrainJob"/>): web defaults, camelCase.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(DrainJob))]
internal sealed partial class DrainJobJsonContext : JsonSerializerContext;

/// <summary>Remote-write delta state snapshots.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SeriesStateStore.StateSnapshot))]
internal sealed partial class SeriesStateJsonContext : JsonSerializerContext;

/// <summary>Heartbeat rows' performance snapshots, one column per component: web defaults, camelCase.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(Performance.ComponentSnapshot))]
internal sealed partial class PerformanceJsonContext : JsonSerializerContext;

/// <summary>Tenant files and stored configs; <see cref="TenantJson.Options"/> adds converters and modifiers.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    ReadCommentHandling = JsonCommentHandling.Skip,
    AllowTrailingCommas = true)]
[JsonSerializable(typeof(TenantFile))]
[JsonSerializable(typeof(TenantConfig))]
internal sealed partial class TenantJsonContext : JsonSerializerContext;
