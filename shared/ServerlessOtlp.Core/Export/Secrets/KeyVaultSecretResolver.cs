using System.Collections.Concurrent;
using Azure;
using Azure.Identity;
using Azure.Security.KeyVault.Secrets;
using Microsoft.Extensions.Configuration;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Export.Secrets;

/// <summary>
/// Resolves a tenant's <c>secret:NAME</c> from configuration (<see cref="ConfigurationSecretResolver"/>)
/// first, then from Key Vault (<c>ServerlessOtlp:KeyVault:Uri</c>, read with DefaultAzureCredential)
/// as the secret <c>t-…--NAME</c> of the tenant's namespace — never a vault secret of any other
/// name. Answers (found or not) are cached for a few minutes so an export waits on Key Vault at
/// most once per secret and period.
/// </summary>
public sealed class KeyVaultSecretResolver : ISecretResolver
{
    public const string UriKey = "ServerlessOtlp:KeyVault:Uri";

    /// <summary>How long an answer is kept: a secret set or rotated in the vault is seen within it.</summary>
    public static readonly TimeSpan CacheTtl = TimeSpan.FromMinutes(5);

    private readonly ConfigurationSecretResolver _configuration;
    private readonly SecretClient _client;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, (string? Value, DateTimeOffset At)> _cache = new(StringComparer.OrdinalIgnoreCase);

    public KeyVaultSecretResolver(IConfiguration configuration, SecretClient client, TimeProvider? time = null)
    {
        _configuration = new ConfigurationSecretResolver(configuration);
        _client = client;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The resolver for a configuration: Key Vault-backed when a vault is configured.</summary>
    public static ISecretResolver For(IConfiguration configuration) =>
        string.IsNullOrWhiteSpace(configuration[UriKey])
            ? new ConfigurationSecretResolver(configuration)
            : new KeyVaultSecretResolver(configuration, new SecretClient(new Uri(configuration[UriKey]!), new DefaultAzureCredential()));

    public async ValueTask<string?> ResolveAsync(string tenantId, string name, CancellationToken cancellationToken = default)
    {
        if (!SecretReference.IsValidName(name))
        {
            return null;
        }

        if (await _configuration.ResolveAsync(tenantId, name, cancellationToken) is { } configured)
        {
            return configured;
        }

        // Key Vault names are case-insensitive, and so is this cache.
        string secretName = TenantNamespace.SecretName(tenantId, name);
        var now = _time.GetUtcNow();
        if (_cache.TryGetValue(secretName, out var cached) && now - cached.At < CacheTtl)
        {
            return cached.Value;
        }

        string? value;
        try
        {
            value = (await _client.GetSecretAsync(secretName, cancellationToken: cancellationToken)).Value.Value;
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            value = null;
        }
        catch (Exception ex) when (ex is RequestFailedException or AuthenticationFailedException or CredentialUnavailableException or HttpRequestException)
        {
            // Not an answer about the secret: retried, never cached.
            throw new SecretStoreUnavailableException($"Key Vault did not answer for secret {secretName}: {ex.Message}", ex);
        }

        _cache[secretName] = (value, now);
        return value;
    }
}
