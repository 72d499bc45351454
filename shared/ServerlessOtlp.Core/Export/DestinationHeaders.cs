using Microsoft.Extensions.Configuration;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Export;

/// <summary>Resolves the NAME of a <c>secret:NAME</c> header value; null when unknown.</summary>
public interface ISecretResolver
{
    string? Resolve(string name);
}

/// <summary>
/// Secrets from .NET configuration, under <c>ServerlessOtlp:Secrets:NAME</c> or plainly <c>NAME</c>.
/// Key Vault secrets arrive the same way through the Key Vault configuration provider.
/// </summary>
public sealed class ConfigurationSecretResolver : ISecretResolver
{
    public const string Section = "ServerlessOtlp:Secrets";

    private readonly IConfiguration _configuration;

    public ConfigurationSecretResolver(IConfiguration configuration) => _configuration = configuration;

    public string? Resolve(string name) => _configuration[Section + ":" + name] ?? _configuration[name];
}

/// <summary>A destination's request headers with <c>secret:NAME</c> references resolved.</summary>
public static class DestinationHeaders
{
    /// <summary>
    /// The headers to send. Throws <see cref="InvalidOperationException"/> naming the secret (not its
    /// value) when a reference cannot be resolved: a configuration problem, so the export is permanent.
    /// </summary>
    public static IEnumerable<KeyValuePair<string, string>> Resolve(DestinationConfig destination, ISecretResolver? secrets)
    {
        foreach (var (name, value) in destination.Headers)
        {
            if (SecretReference.TryParse(value, out string secret))
            {
                string? resolved = secrets?.Resolve(secret);
                if (resolved == null)
                {
                    throw new InvalidOperationException($"header {name}: secret \"{secret}\" is not configured");
                }

                yield return new(name, resolved);
            }
            else
            {
                yield return new(name, value);
            }
        }
    }
}
