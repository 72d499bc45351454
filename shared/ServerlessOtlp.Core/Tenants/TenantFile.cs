using System.Text.Json;
using System.Text.Json.Serialization;
using ServerlessOtlp.Export;
using ServerlessOtlp.Otlp;

namespace ServerlessOtlp.Tenants;

// The tenant file model (CONTRACTS.md, "Tenant file"). Property names are the JSON names in
// camelCase; they are a contract with users' files, change them only on purpose. Produced by
// TenantFileParser (which validates it) and read by the gateway, the drainers and the exporters.
// Absent optional blocks are null; absent lists are empty.
// Properties with a default are settable, not init-only: the source-generated serializer (the
// gateway runs as Native AOT) sets every init-only property in one object initializer, so an
// absent one would lose its default (dotnet/runtime#84484).

/// <summary>A tenant file: <c>{ "tenants": [ … ] }</c>.</summary>
public sealed record TenantFile
{
    /// <summary>The JSON Schema the file names for editors (<c>schemas/tenant-file.schema.json</c>); not read otherwise.</summary>
    [JsonPropertyName("$schema")]
    public string? Schema { get; set; }

    public IReadOnlyList<TenantConfig> Tenants { get; set; } = [];
}

/// <summary>One tenant: who it is, how its data is sampled, transformed and where it goes.</summary>
public sealed record TenantConfig
{
    /// <summary>Matches <see cref="TenantIds.Pattern"/>; the RowKey of the tenant's row.</summary>
    public required string Id { get; init; }

    /// <summary>
    /// Plain API keys from the file. Null (absent) leaves the stored keys as they are; a list
    /// replaces them. Never stored: the store keeps SHA-256 hashes only, and a config read back
    /// from the store has null here.
    /// </summary>
    public IReadOnlyList<string>? ApiKeys { get; init; }

    public TenantLimits? Limits { get; init; }

    public SamplingConfig? Sampling { get; init; }

    /// <summary>OTTL statements per signal, applied in order.</summary>
    public OttlStatements? Transforms { get; init; }

    /// <summary>OTTL conditions per signal; matching items are dropped.</summary>
    public OttlStatements? Filters { get; init; }

    /// <summary>What a failing transform statement does (the Collector's <c>error_mode</c>).</summary>
    public TransformErrorMode TransformErrorMode { get; set; } = TransformErrorMode.Propagate;

    public IReadOnlyList<RedactionPreset> Redaction { get; set; } = [];

    public IReadOnlyList<DestinationConfig> Destinations { get; set; } = [];

    /// <summary>OpAMP remote configs for the tenant's agents (<see cref="AgentsConfig"/>).</summary>
    public AgentsConfig? Agents { get; init; }

    /// <summary>The stored version (incremented on every apply); 0 for a config parsed from a file.</summary>
    [JsonIgnore]
    public long Version { get; init; }
}

public sealed record TenantLimits
{
    /// <summary>Spans + data points + log records per second accepted by the gateway; null = unlimited.</summary>
    public long? ItemsPerSecond { get; init; }

    /// <summary>Request bytes per second after decompression accepted by the gateway; null = unlimited.</summary>
    public long? BytesPerSecond { get; init; }
}

public sealed record SamplingConfig
{
    /// <summary>Consistent probability sampling, decided on the wire per span.</summary>
    public TraceSamplingConfig? Traces { get; init; }

    public TailSamplingConfig? Tail { get; init; }
}

/// <summary>The OpenTelemetry specification's consistent probability sampling (kept spans carry <c>ot=th:…</c>).</summary>
public sealed record TraceSamplingConfig
{
    /// <summary>The default number of hexadecimal digits of the threshold (the Collector's default).</summary>
    public const int DefaultPrecision = 4;

    /// <summary>Most digits a 56-bit threshold has.</summary>
    public const int MaxPrecision = 14;

    public SamplingMode Mode { get; set; } = SamplingMode.Proportional;

    /// <summary>0 to 100.</summary>
    public required double SamplingPercentage { get; init; }

    /// <summary>1 to <see cref="MaxPrecision"/>.</summary>
    public int Precision { get; set; } = DefaultPrecision;
}

public enum SamplingMode
{
    [JsonStringEnumMemberName("proportional")]
    Proportional,

    [JsonStringEnumMemberName("equalizing")]
    Equalizing,
}

public sealed record TailSamplingConfig
{
    public static readonly TimeSpan DefaultDecisionWait = TimeSpan.FromSeconds(10);

    /// <summary>How long (received time) spans of a trace are buffered before the decision.</summary>
    public TimeSpan DecisionWait { get; set; } = DefaultDecisionWait;

    /// <summary>A trace is kept when any policy matches.</summary>
    public IReadOnlyList<TailPolicy> Policies { get; set; } = [];
}

/// <summary>
/// A tail-sampling policy, shaped like the Collector's <c>tail_sampling</c> policies in
/// camelCase: <c>{ "name": "errors", "type": "status_code", "statusCode": { "statusCodes": ["ERROR"] } }</c>.
/// The block named after <see cref="Type"/> is required (except for <c>always_sample</c>); others are refused.
/// </summary>
public sealed record TailPolicy
{
    public required string Name { get; init; }

    public required TailPolicyType Type { get; init; }

    public LatencyPolicy? Latency { get; init; }

    public StatusCodePolicy? StatusCode { get; init; }

    public StringAttributePolicy? StringAttribute { get; init; }

    public NumericAttributePolicy? NumericAttribute { get; init; }

    public ProbabilisticPolicy? Probabilistic { get; init; }

    public SpanCountPolicy? SpanCount { get; init; }

    public RateLimitingPolicy? RateLimiting { get; init; }

    public AndPolicy? And { get; init; }

    public CompositePolicy? Composite { get; init; }
}

public enum TailPolicyType
{
    [JsonStringEnumMemberName("always_sample")]
    AlwaysSample,

    [JsonStringEnumMemberName("latency")]
    Latency,

    [JsonStringEnumMemberName("status_code")]
    StatusCode,

    [JsonStringEnumMemberName("string_attribute")]
    StringAttribute,

    [JsonStringEnumMemberName("numeric_attribute")]
    NumericAttribute,

    [JsonStringEnumMemberName("probabilistic")]
    Probabilistic,

    [JsonStringEnumMemberName("span_count")]
    SpanCount,

    [JsonStringEnumMemberName("rate_limiting")]
    RateLimiting,

    [JsonStringEnumMemberName("and")]
    And,

    [JsonStringEnumMemberName("composite")]
    Composite,
}

/// <summary>Keeps a trace whose duration (earliest start to latest end) is ≥ <see cref="Threshold"/> (and ≤ the upper threshold when set).</summary>
public sealed record LatencyPolicy
{
    public required TimeSpan Threshold { get; init; }

    public TimeSpan? UpperThreshold { get; init; }
}

public sealed record StatusCodePolicy
{
    public IReadOnlyList<SpanStatusCode> StatusCodes { get; set; } = [];
}

public enum SpanStatusCode
{
    [JsonStringEnumMemberName("UNSET")]
    Unset,

    [JsonStringEnumMemberName("OK")]
    Ok,

    [JsonStringEnumMemberName("ERROR")]
    Error,
}

public sealed record StringAttributePolicy
{
    public required string Key { get; init; }

    public IReadOnlyList<string> Values { get; set; } = [];

    /// <summary>Values are regular expressions (.NET syntax, checked at apply time).</summary>
    public bool EnabledRegexMatching { get; init; }

    public bool InvertMatch { get; init; }
}

public sealed record NumericAttributePolicy
{
    public required string Key { get; init; }

    public long? MinValue { get; init; }

    public long? MaxValue { get; init; }

    public bool InvertMatch { get; init; }
}

public sealed record ProbabilisticPolicy
{
    /// <summary>0 to 100; decided consistently from the trace's randomness, like head sampling.</summary>
    public required double SamplingPercentage { get; init; }
}

public sealed record SpanCountPolicy
{
    public required int MinSpans { get; init; }

    public int? MaxSpans { get; init; }
}

public sealed record RateLimitingPolicy
{
    /// <summary>The tenant-wide rate; each partition's drainer gets its share.</summary>
    public required long SpansPerSecond { get; init; }
}

/// <summary>Keeps a trace when every sub-policy matches.</summary>
public sealed record AndPolicy
{
    public IReadOnlyList<TailPolicy> Policies { get; set; } = [];
}

/// <summary>
/// The Collector's <c>composite</c>, with its run-time behaviour: sub-policies tried in declared
/// order (<see cref="PolicyOrder"/> is validated but, as there, does not reorder); the first that
/// matches decides — kept while its share of <see cref="MaxTotalSpansPerSecond"/> has room this second.
/// </summary>
public sealed record CompositePolicy
{
    /// <summary>The tenant-wide rate; each partition's drainer gets its share.</summary>
    public required long MaxTotalSpansPerSecond { get; init; }

    public IReadOnlyList<string> PolicyOrder { get; set; } = [];

    public IReadOnlyList<TailPolicy> SubPolicies { get; set; } = [];

    /// <summary>A sub-policy without an allocation gets nothing; one of 0 % an equal share (as in the Collector).</summary>
    public IReadOnlyList<RateAllocation> RateAllocation { get; set; } = [];
}

public sealed record RateAllocation
{
    public required string Policy { get; init; }

    /// <summary>0 to 100, of <see cref="CompositePolicy.MaxTotalSpansPerSecond"/>.</summary>
    public required double Percent { get; init; }
}

/// <summary>OTTL statements or conditions per signal.</summary>
public sealed record OttlStatements
{
    public IReadOnlyList<string> Traces { get; set; } = [];

    public IReadOnlyList<string> Metrics { get; set; } = [];

    public IReadOnlyList<string> Logs { get; set; } = [];

    public IReadOnlyList<string> For(Signal signal) => signal switch
    {
        Signal.Traces => Traces,
        Signal.Metrics => Metrics,
        Signal.Logs => Logs,
        _ => throw new ArgumentOutOfRangeException(nameof(signal)),
    };
}

public enum TransformErrorMode
{
    /// <summary>Log the error and go on with the next statement.</summary>
    [JsonStringEnumMemberName("ignore")]
    Ignore,

    /// <summary>The item's transform fails; the data goes to the dead-letter store.</summary>
    [JsonStringEnumMemberName("propagate")]
    Propagate,
}

public enum RedactionPreset
{
    /// <summary>Credentials in HTTP header attributes (authorization, cookies, API keys).</summary>
    [JsonStringEnumMemberName("credentials")]
    Credentials,

    /// <summary>Card-like numbers (13–19 digits passing the Luhn check).</summary>
    [JsonStringEnumMemberName("card-numbers")]
    CardNumbers,

    [JsonStringEnumMemberName("emails")]
    Emails,
}

/// <summary>
/// A backend the tenant's data is exported to: the fields every kind has. A kind's own fields
/// (<c>path</c>, <c>encoding</c>, <c>lokiLabels</c>, …) are in <see cref="Settings"/>, bound by the
/// kind's factory (<see cref="Export.DestinationKinds"/>) and written beside these in JSON.
/// </summary>
public sealed record DestinationConfig : IJsonOnDeserialized
{
    private DestinationSettings? _settings;

    /// <summary>A kind's fields as read, kept only while this build has no such kind (so that storing it again loses nothing).</summary>
    private Dictionary<string, JsonElement>? _unbound;

    /// <summary>Unique within the tenant; matches <see cref="TenantFileParser.DestinationNamePattern"/>.</summary>
    public required string Name { get; init; }

    /// <summary>A kind of <see cref="Export.DestinationKinds"/>: <c>otlp</c>, <c>otlphttp</c>, <c>prometheusremotewrite</c>, <c>loki</c>, <c>file</c>.</summary>
    public required string Kind { get; init; }

    /// <summary>Never empty after parsing: an absent list means every signal the kind carries.</summary>
    public IReadOnlyList<Signal> Signals { get; set; } = [];

    /// <summary>Absolute http(s) URL of a network kind.</summary>
    public string? Endpoint { get; init; }

    /// <summary>Request headers; credential values are <c>secret:NAME</c> references (<see cref="SecretReference"/>).</summary>
    public IReadOnlyDictionary<string, string> Headers { get; set; } = new Dictionary<string, string>();

    /// <summary>Optional OTTL condition: only matching items go to this destination.</summary>
    public string? When { get; init; }

    public TimeSpan? Timeout { get; init; }

    public RetryConfig? Retry { get; init; }

    public BatchConfig? Batch { get; init; }

    public DestinationCompression? Compression { get; init; }

    /// <summary>The kind's own fields (e.g. <see cref="Export.Loki.LokiSettings"/>); null for a kind without any, or none given.</summary>
    [JsonIgnore]
    public DestinationSettings? Settings
    {
        get => _settings;
        init => _settings = value;
    }

    /// <summary>The JSON of <see cref="Settings"/>, flat beside the common fields as users write them.</summary>
    [JsonExtensionData]
    [JsonInclude]
    internal Dictionary<string, JsonElement>? KindFields
    {
        get => _settings is null ? _unbound : DestinationSettingsJson.Write(_settings);
        set => _unbound = value;
    }

    void IJsonOnDeserialized.OnDeserialized()
    {
        if (_unbound is not null && DestinationSettingsJson.Read(Kind, _unbound) is { } settings)
        {
            _settings = settings;
            _unbound = null;
        }
    }
}

public enum DestinationCompression
{
    [JsonStringEnumMemberName("none")]
    None,

    [JsonStringEnumMemberName("gzip")]
    Gzip,
}

internal enum DestinationEncoding
{
    [JsonStringEnumMemberName("protobuf")]
    Protobuf,

    [JsonStringEnumMemberName("json")]
    Json,
}

public sealed record RetryConfig
{
    public TimeSpan? InitialInterval { get; init; }

    public TimeSpan? MaxInterval { get; init; }

    /// <summary>After this long a batch goes to the retry store.</summary>
    public TimeSpan? MaxElapsed { get; init; }
}

public sealed record BatchConfig
{
    public int? MaxItems { get; init; }

    public long? MaxBytes { get; init; }

    public TimeSpan? FlushInterval { get; init; }
}
