namespace ServerlessOtlp.Export.Secrets;

/// <summary>
/// Resolves a tenant's <c>secret:NAME</c> in that tenant's namespace only
/// (<see cref="Tenants.TenantNamespace.SecretName"/>): there is no other place a NAME can lead.
/// </summary>
public interface ISecretResolver
{
    /// <summary>
    /// The value of tenant <paramref name="tenantId"/>'s secret <paramref name="name"/>; null when
    /// the tenant has none of that name. Throws <see cref="SecretStoreUnavailableException"/> when
    /// the store cannot answer now (worth retrying).
    /// </summary>
    ValueTask<string?> ResolveAsync(string tenantId, string name, CancellationToken cancellationToken = default);
}

/// <summary>The secret store did not answer (network, throttling, identity): the export is retried, never refused for it.</summary>
internal sealed class SecretStoreUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
