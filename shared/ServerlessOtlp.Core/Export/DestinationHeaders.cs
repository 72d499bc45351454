using System.Collections.Concurrent;
using ServerlessOtlp.Export.Egress;
using ServerlessOtlp.Export.Secrets;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Export;

/// <summary>The headers to send, or why the export cannot be sent now.</summary>
public readonly record struct HeaderResolution(IReadOnlyList<KeyValuePair<string, string>> Headers, ExportOutcome? Failure);

/// <summary>
/// A destination's request headers as sent: <c>secret:NAME</c> references resolved in the tenant's
/// own namespace, and the operator's pinned headers (<see cref="EgressPolicy.PinnedHeadersFor"/>)
/// in place of the tenant's headers of the same name. Every network exporter sends these.
/// </summary>
public sealed class DestinationHeaders
{
    /// <summary>A batch waiting for a secret goes to the retry store at once rather than retrying inline: the Key Vault cache answers the same within this.</summary>
    private static readonly TimeSpan UnresolvedRetryAfter = KeyVaultSecretResolver.CacheTtl;

    private readonly ISecretResolver? _secrets;
    private readonly EgressPolicy _egress;
    private readonly SecretMigrationOptions _migration;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<(string Tenant, string Reference), DateTimeOffset> _firstFailures = new();

    public DestinationHeaders(ISecretResolver? secrets = null, EgressPolicy? egress = null, SecretMigrationOptions? migration = null, TimeProvider? time = null)
    {
        _secrets = secrets;
        _egress = egress ?? new EgressPolicy();
        _migration = migration ?? new SecretMigrationOptions();
        _time = time ?? TimeProvider.System;
    }

    /// <summary>
    /// The headers for an export of <paramref name="tenantId"/> to <paramref name="destination"/>. A
    /// reference its namespace cannot resolve fails the export: transient while the secret migration
    /// window is open (<see cref="SecretMigrationOptions"/>), permanent after it; a store that does
    /// not answer is transient. Messages name the secret, never a value.
    /// </summary>
    public async ValueTask<HeaderResolution> ResolveAsync(string tenantId, DestinationConfig destination, CancellationToken cancellationToken = default)
    {
        var pinned = _egress.PinnedHeadersFor(tenantId);
        var headers = new List<KeyValuePair<string, string>>(destination.Headers.Count + pinned.Count);
        foreach (var (name, value) in destination.Headers)
        {
            if (IsPinned(pinned, name))
            {
                continue;
            }

            if (!SecretReference.IsReference(value))
            {
                headers.Add(new(name, value));
                continue;
            }

            string reference = value[SecretReference.Prefix.Length..];
            string? resolved;
            try
            {
                resolved = _secrets is not null && SecretReference.IsValidName(reference)
                    ? await _secrets.ResolveAsync(tenantId, reference, cancellationToken)
                    : null;
            }
            catch (SecretStoreUnavailableException ex)
            {
                return new([], ExportOutcome.Transient($"header {name}: {ex.Message}"));
            }

            if (resolved is null)
            {
                return new([], Unresolved(tenantId, name, reference));
            }

            _firstFailures.TryRemove((tenantId, reference), out _);
            headers.Add(new(name, resolved));
        }

        foreach (var (name, value) in pinned)
        {
            headers.Add(new(name, value));
        }

        return new(headers, null);
    }

    private static bool IsPinned(IReadOnlyDictionary<string, string> pinned, string name)
    {
        foreach (string key in pinned.Keys)
        {
            if (string.Equals(key, name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private ExportOutcome Unresolved(string tenantId, string header, string reference)
    {
        string where = SecretReference.IsValidName(reference)
            ? $"Key Vault secret {TenantNamespace.SecretName(tenantId, reference)} or setting {ConfigurationSecretResolver.KeyOf(tenantId, reference)}"
            : $"a secret name must be {SecretReference.NameExpected}; re-apply the tenant file with a valid name";
        string problem = $"header {header}: tenant {tenantId} has no secret \"{Shorten(reference)}\" in its namespace ({where})";
        var now = _time.GetUtcNow();
        var first = _firstFailures.GetOrAdd((tenantId, reference), now);
        var end = _migration.GraceUntil ?? first + _migration.GracePeriod;
        return now < end
            ? ExportOutcome.Transient($"{problem}; retried until {end:u} while references are migrated (`otlpctl secrets migrate`)", UnresolvedRetryAfter)
            : ExportOutcome.Permanent($"{problem}; the secret migration window ended at {end:u}");
    }

    private static string Shorten(string reference) => reference.Length <= 80 ? reference : reference[..80] + "…";
}
