using Azure;
using Azure.Security.KeyVault.Secrets;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Export.Secrets;

/// <summary>What became (or, in a dry run, would become) of one tenant's reference.</summary>
public enum SecretMigrationAction
{
    /// <summary>The vault secret NAME was copied to the tenant's namespaced name.</summary>
    Copied,

    /// <summary>A dry run: NAME would be copied.</summary>
    WouldCopy,

    /// <summary>The namespaced secret exists already; nothing to do.</summary>
    AlreadyMigrated,

    /// <summary>No vault: the operator sets the namespaced setting where the secret's value is (configuration cannot be read back).</summary>
    SetSetting,

    /// <summary>Neither NAME nor the namespaced name is in the vault: the operator sets the namespaced secret.</summary>
    SourceMissing,

    /// <summary>NAME is not a valid name in a namespace: the tenant file must use a valid one (re-apply it).</summary>
    InvalidName,

    /// <summary>NAME is itself a namespaced name (<c>t-…--…</c>): never copied, it could be another tenant's secret.</summary>
    NamespacedSource,
}

/// <summary>One (tenant, NAME) of <c>otlpctl secrets migrate</c>, with where the tenant's secret now lives.</summary>
/// <param name="Target">The namespaced Key Vault name <c>t-…--NAME</c>; null for an invalid NAME.</param>
/// <param name="Setting">The namespaced configuration key; null for an invalid NAME.</param>
/// <param name="AlsoReferencedBy">Other tenants whose references name the same NAME: before namespaces they shared one secret; each now gets a copy, so check that each should have it.</param>
public sealed record SecretMigrationItem(string Tenant, string Name, IReadOnlyList<string> UsedBy, string? Target, string? Setting, SecretMigrationAction Action, IReadOnlyList<string> AlsoReferencedBy)
{
    /// <summary>True when nothing remains for the operator to do for this item.</summary>
    public bool Done => Action is SecretMigrationAction.Copied or SecretMigrationAction.AlreadyMigrated;

    /// <summary>True when the item cannot be migrated by this command or an operator's setting.</summary>
    public bool Failed => Action is SecretMigrationAction.SourceMissing or SecretMigrationAction.InvalidName or SecretMigrationAction.NamespacedSource;
}

/// <summary>The vault operations a migration needs (Key Vault; a dictionary in tests).</summary>
public interface ISecretVault
{
    /// <summary>The secret's value; null when there is none of that name.</summary>
    Task<string?> GetAsync(string name, CancellationToken cancellationToken = default);

    Task SetAsync(string name, string value, CancellationToken cancellationToken = default);
}

/// <summary>Azure Key Vault as an <see cref="ISecretVault"/> (needs get and set: Key Vault Secrets Officer).</summary>
public sealed class KeyVaultSecretVault(SecretClient client) : ISecretVault
{
    public async Task<string?> GetAsync(string name, CancellationToken cancellationToken = default)
    {
        try
        {
            return (await client.GetSecretAsync(name, cancellationToken: cancellationToken)).Value.Value;
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return null;
        }
    }

    public Task SetAsync(string name, string value, CancellationToken cancellationToken = default) =>
        client.SetSecretAsync(name, value, cancellationToken);
}

/// <summary>
/// Moves stored <c>secret:NAME</c> references, which resolved from one flat set of names before
/// secrets were namespaced, into each tenant's namespace: for every (tenant, NAME), Key Vault's
/// NAME is copied to <c>t-…--NAME</c> (each tenant its own copy, also when tenants shared a NAME).
/// Without a vault it lists the settings the operator must set. Values are never printed.
/// </summary>
public static class SecretMigration
{
    /// <summary>Every distinct (tenant, NAME) the tenants' destination headers reference, in tenant order.</summary>
    public static IReadOnlyList<(string Tenant, string Name, IReadOnlyList<string> UsedBy)> References(IEnumerable<TenantConfig> tenants)
    {
        var found = new List<(string Tenant, string Name, IReadOnlyList<string> UsedBy)>();
        foreach (var tenant in tenants)
        {
            var byName = new Dictionary<string, List<string>>(StringComparer.Ordinal);
            foreach (var destination in tenant.Destinations)
            {
                foreach (var (header, value) in destination.Headers)
                {
                    if (SecretReference.IsReference(value))
                    {
                        string name = value[SecretReference.Prefix.Length..];
                        if (!byName.TryGetValue(name, out var users))
                        {
                            byName[name] = users = [];
                        }

                        users.Add($"{destination.Name}.headers.{header}");
                    }
                }
            }

            found.AddRange(byName.Select(n => (tenant.Id, n.Key, (IReadOnlyList<string>)n.Value)));
        }

        return found;
    }

    /// <summary>
    /// Migrates (or with <paramref name="dryRun"/> plans) each reference. With a <paramref name="vault"/>,
    /// copies NAME to the namespaced name unless it is there already; without one, every valid
    /// reference is a setting for the operator.
    /// </summary>
    public static async Task<IReadOnlyList<SecretMigrationItem>> RunAsync(IEnumerable<TenantConfig> tenants, ISecretVault? vault, bool dryRun, CancellationToken cancellationToken = default)
    {
        var items = new List<SecretMigrationItem>();
        var references = References(tenants);
        var tenantsByName = references.GroupBy(r => r.Name, StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.Select(r => r.Tenant).Distinct(StringComparer.Ordinal).ToList(), StringComparer.OrdinalIgnoreCase);
        foreach (var (tenant, name, usedBy) in references)
        {
            // Key Vault names are case-insensitive: "Token" and "token" were one secret.
            var others = tenantsByName[name].Where(t => t != tenant).ToList();
            if (!SecretReference.IsValidName(name))
            {
                items.Add(new(tenant, name, usedBy, null, null, SecretMigrationAction.InvalidName, others));
                continue;
            }

            string target = TenantNamespace.SecretName(tenant, name);
            string setting = ConfigurationSecretResolver.KeyOf(tenant, name);
            if (LooksNamespaced(name))
            {
                items.Add(new(tenant, name, usedBy, target, setting, SecretMigrationAction.NamespacedSource, others));
                continue;
            }

            if (vault is null)
            {
                items.Add(new(tenant, name, usedBy, target, setting, SecretMigrationAction.SetSetting, others));
                continue;
            }

            SecretMigrationAction action;
            if (await vault.GetAsync(target, cancellationToken) is not null)
            {
                action = SecretMigrationAction.AlreadyMigrated;
            }
            else if (await vault.GetAsync(name, cancellationToken) is not { } value)
            {
                action = SecretMigrationAction.SourceMissing;
            }
            else if (dryRun)
            {
                action = SecretMigrationAction.WouldCopy;
            }
            else
            {
                await vault.SetAsync(target, value, cancellationToken);
                action = SecretMigrationAction.Copied;
            }

            items.Add(new(tenant, name, usedBy, target, setting, action, others));
        }

        return items;
    }

    /// <summary>True for <c>t-</c> + a namespace hash + <c>--</c>: a name no reference made before namespaces existed.</summary>
    internal static bool LooksNamespaced(string name) =>
        name.Length > TenantNamespace.Length + 2
        && name.StartsWith(TenantNamespace.Prefix, StringComparison.OrdinalIgnoreCase)
        && name.AsSpan(TenantNamespace.Length, 2).SequenceEqual(TenantNamespace.SecretSeparator);
}
