using System.Collections.Concurrent;

namespace ServerlessOtlp.Performance;

/// <summary>
/// The <c>tenant</c> label of the project's metrics, with a cap on its cardinality: the first <see cref="Limit"/>
/// tenants a process meets keep their id, later ones share <see cref="Other"/>. A deployment of thousands of
/// tenants then cannot multiply every metric's series — the Prometheus scrape, the Azure Monitor bill — without
/// bound; per-tenant detail beyond the cap is in <c>otlpctl status</c> and the tenants' own backends.
/// </summary>
public sealed class TenantLabel
{
    /// <summary>The label value of tenants past the cap.</summary>
    public const string Other = "_other";

    /// <summary>Tenants per process with a label of their own.</summary>
    public const int DefaultLimit = 100;

    private readonly ConcurrentDictionary<string, string> _labels = new(StringComparer.Ordinal);

    public TenantLabel(int limit = DefaultLimit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        Limit = limit;
    }

    /// <summary>One cap per process: every meter labels the same tenants the same way.</summary>
    public static TenantLabel Shared { get; } = new();

    public int Limit { get; }

    /// <summary>The label for <paramref name="tenant"/> ("" for none, e.g. a request refused before authentication).</summary>
    public string Of(string? tenant)
    {
        if (string.IsNullOrEmpty(tenant))
        {
            return "";
        }

        if (_labels.TryGetValue(tenant, out var label))
        {
            return label;
        }

        // Racing first sightings can pass the cap by a few: a bound, not an exact count.
        return _labels.Count >= Limit ? Other : _labels.GetOrAdd(tenant, tenant);
    }
}
