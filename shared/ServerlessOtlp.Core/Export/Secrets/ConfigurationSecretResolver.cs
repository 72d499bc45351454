using Microsoft.Extensions.Configuration;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Export.Secrets;

/// <summary>
/// Secrets from .NET configuration, under <c>ServerlessOtlp:Secrets:t-…--NAME</c> (environment:
/// <c>ServerlessOtlp__Secrets__t-…--NAME</c>): the tenant's namespace and nothing else, so a NAME
/// can never reach another tenant's secret or any other setting.
/// </summary>
public sealed class ConfigurationSecretResolver(IConfiguration configuration) : ISecretResolver
{
    public const string Section = "ServerlessOtlp:Secrets";

    /// <summary>The configuration key of a tenant's secret.</summary>
    public static string KeyOf(string tenantId, string name) => Section + ":" + TenantNamespace.SecretName(tenantId, name);

    public ValueTask<string?> ResolveAsync(string tenantId, string name, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(SecretReference.IsValidName(name) ? configuration[KeyOf(tenantId, name)] : null);
}
