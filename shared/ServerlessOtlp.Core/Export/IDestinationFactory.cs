using System.Text.Json.Serialization.Metadata;
using ServerlessOtlp.Export.Egress;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Export;

/// <summary>
/// A destination kind, as the Collector's exporter factories are: its name in tenant files, the
/// signals it carries, the fields of its own (beside <see cref="DestinationConfig"/>'s common ones),
/// its rules, and its exporter. <see cref="DestinationKinds"/> lists them; the tenant-file parser, the
/// stored-config reader and the exporter set all read that one list.
/// </summary>
internal interface IDestinationFactory
{
    /// <summary>The <c>kind</c> value in a tenant file.</summary>
    string Kind { get; }

    /// <summary>The signals the kind carries: a destination's default <c>signals</c>, and the only ones allowed.</summary>
    IReadOnlyList<Signal> Signals { get; }

    /// <summary>The JSON contract of the kind's own fields (source-generated, for Native AOT); null when it has none.</summary>
    JsonTypeInfo? SettingsJson { get; }

    /// <summary>The rules of the kind on a destination whose JSON shape is right; problems go to <paramref name="check"/>.</summary>
    void Validate(DestinationConfig destination, DestinationCheck check);

    /// <summary>The kind's exporter, once per process, over the shared connections and header resolver.</summary>
    IDestinationExporter CreateExporter(DestinationServices services);
}

/// <summary>The fields of a destination kind beyond the common ones (<see cref="DestinationConfig.Settings"/>).</summary>
public abstract record DestinationSettings;

/// <summary>What every exporter is built with: one set of egress connections, one header resolver, the export settings, the clock.</summary>
public sealed record DestinationServices(EgressClients Egress, DestinationHeaders Headers, ExportSettings Settings, TimeProvider Time);

/// <summary>
/// A factory with settings of type <typeparamref name="TSettings"/>: binds and exposes them, so a
/// kind's code reads <c>SettingsOf(destination)</c> and never casts.
/// </summary>
public abstract class DestinationFactory<TSettings> : IDestinationFactory
    where TSettings : DestinationSettings, new()
{
    private static readonly TSettings Defaults = new();

    public abstract string Kind { get; }

    public abstract IReadOnlyList<Signal> Signals { get; }

    JsonTypeInfo? IDestinationFactory.SettingsJson => SettingsJson;

    /// <summary>The contract of <typeparamref name="TSettings"/> from the kind's own source-generated context; null for <see cref="NoSettings"/>.</summary>
    protected virtual JsonTypeInfo<TSettings>? SettingsJson => null;

    /// <summary>The destination's settings of this kind; the defaults when it has none.</summary>
    public static TSettings SettingsOf(DestinationConfig destination) => destination.Settings as TSettings ?? Defaults;

    public void Validate(DestinationConfig destination, DestinationCheck check)
    {
        if (destination.Settings is not (null or TSettings))
        {
            check.Error("kind", $"the settings given are {destination.Settings.GetType().Name}, not those of kind {Kind}");
            return;
        }

        Validate(destination, SettingsOf(destination), check);
    }

    public abstract IDestinationExporter CreateExporter(DestinationServices services);

    protected abstract void Validate(DestinationConfig destination, TSettings settings, DestinationCheck check);
}

/// <summary>A destination kind without fields of its own.</summary>
internal sealed record NoSettings : DestinationSettings;

/// <summary>
/// Where a kind's rules report problems: paths are relative to the destination
/// (<c>"endpoint"</c>, <c>"lokiLabels[1]"</c>), the parser adds the tenant's and the line.
/// </summary>
public sealed class DestinationCheck(string destinationPath, TenantFileRules rules, Action<string, string> error)
{
    /// <summary>What the deployment allows (file paths).</summary>
    public TenantFileRules Rules { get; } = rules;

    public void Error(string field, string message) => error(destinationPath + "." + field, message);

    /// <summary>The common rules of a network kind: an absolute http(s) <c>endpoint</c> without credentials, to an address the egress policy can allow.</summary>
    public void Endpoint(DestinationConfig destination, string kind)
    {
        if (destination.Endpoint is null)
        {
            Error("endpoint", $"is required for kind {kind} (an absolute http:// or https:// URL)");
        }
        else if (!Uri.TryCreate(destination.Endpoint, UriKind.Absolute, out var uri)
                 || uri.Scheme is not ("http" or "https") || uri.Host.Length == 0)
        {
            Error("endpoint", $"\"{destination.Endpoint}\" is not an absolute http:// or https:// URL");
        }
        else if (uri.UserInfo.Length > 0)
        {
            Error("endpoint", "must not contain credentials (user:password@); use a header with a secret:NAME reference");
        }
        else if (EgressAddresses.RefusedEndpoint(uri) is { } refused)
        {
            Error("endpoint", refused);
        }
    }

    /// <summary>Each value present and not blank, none twice.</summary>
    public void DistinctNotBlank(IReadOnlyList<string> values, string field, string what)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < values.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(values[i]))
            {
                Error($"{field}[{i}]", "must not be empty");
            }
            else if (!seen.Add(values[i]))
            {
                Error($"{field}[{i}]", $"duplicate {what}");
            }
        }
    }
}
