using System.Text.Json.Serialization.Metadata;
using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Export.Loki;
using ServerlessOtlp.Export.Otlp;
using ServerlessOtlp.Export.PrometheusRemoteWrite;

namespace ServerlessOtlp.Export;

/// <summary>
/// Every destination kind of this build. Adding a kind is a folder under <c>Export/</c> with its
/// factory and exporter, and one line here (docs/extending.md).
/// </summary>
internal static class DestinationKinds
{
    private static readonly Dictionary<string, IDestinationFactory> ByKind = All().ToDictionary(f => f.Kind, StringComparer.Ordinal);

    /// <summary>The kinds, in the order error messages list them.</summary>
    public static IReadOnlyList<IDestinationFactory> Factories { get; } = [.. ByKind.Values];

    /// <summary>The kinds' names, for messages.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. ByKind.Keys];

    /// <summary>The factory of <paramref name="kind"/>; null when this build has no such kind.</summary>
    public static IDestinationFactory? Find(string? kind) => kind is not null && ByKind.TryGetValue(kind, out var factory) ? factory : null;

    /// <summary>The kinds' own JSON contracts, for <see cref="Tenants.TenantJson"/>'s resolver.</summary>
    internal static IEnumerable<IJsonTypeInfoResolver> SettingsResolvers =>
        Factories.Select(f => f.SettingsJson?.OriginatingResolver).OfType<IJsonTypeInfoResolver>().Distinct();

    private static IEnumerable<IDestinationFactory> All() =>
    [
        new OtlpDestination(),
        new OtlpHttpDestination(),
        new RemoteWriteDestination(),
        new LokiDestination(),
        new FileDestination(),
    ];
}
