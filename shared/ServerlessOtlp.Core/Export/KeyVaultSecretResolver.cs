using System.Collections.Concurrent;
using Azure;
using Azure.Identity;
using Azure.Security.KeyVault.Secrets;
using Microsoft.Extensions.Configuration;

namespace ServerlessOtlp.Export;

/// <summary>
/// Resolves <c>secret:NAME</c> from configuration first, then from Key Vault
/// (<c>ServerlessOtlp:KeyVault:Uri</c>, read with DefaultAzureCredential). Values are cached for
/// a few minutes so an export never waits on Key Vault more than once per secret and period.
/// </summary>
public sealed class KeyVaultSecretResolver : ISecretResolver
{
    public const string UriKey = "ServerlessOtlp:KeyVault:Uri";
    private static readonly TimeSpan CacheTtl = TimeSpan.FromMinutes(5);

    private readonly ISecretResolver _configuration;
    private readonly SecretClient? _client;
    private readonly ConcurrentDictionary<string, (string? Value, DateTimeOffset At)> _cache = new(StringComparer.Ordinal);

    public KeyVaultSecretResolver(IConfiguration configuration, SecretClient? client = null)
    {
        _configuration = new ConfigurationSecretResolver(configuration);
        string? uri = configuration[UriKey];
        _client = client ?? (string.IsNullOrWhiteSpace(uri) ? null : new SecretClient(new Uri(uri), new DefaultAzureCredential()));
    }

    /// <summary>The resolver for a configuration: Key Vault-backed when a vault is configured.</summary>
    public static ISecretResolver For(IConfiguration configuration) =>
        string.IsNullOrWhiteSpace(configuration[UriKey]) ? new ConfigurationSecretResolver(configuration) : new KeyVaultSecretResolver(configuration);

    public string? Resolve(string name)
    {
        var fromConfiguration = _configuration.Resolve(name);
        if (fromConfiguration != null || _client == null)
        {
            return fromConfiguration;
        }

        var now = DateTimeOffset.UtcNow;
        if (_cache.TryGetValue(name, out var cached) && now - cached.At < CacheTtl)
        {
            return cached.Value;
        }

        string? value;
        try
        {
            // ISecretResolver is synchronous; the cache keeps this off the steady-state path.
            value = _client.GetSecret(name).Value.Value;
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            value = null;
        }

        _cache[name] = (value, now);
        return value;
    }
}
