namespace ServerlessOtlp.Tenants;

/// <summary>
/// Who a request belongs to, and that tenant's config, as the gateway and the drainers see
/// them. Implementations cache: a change (a new config, a revoked key) shows within their TTL.
/// </summary>
public interface ITenantDirectory
{
    /// <summary>The config of the tenant that holds <paramref name="apiKey"/>, or null for an unknown key.</summary>
    ValueTask<TenantConfig?> AuthenticateAsync(string apiKey, CancellationToken cancellationToken = default);

    /// <summary>
    /// Answers from memory only, without a storage call: true when the answer is known
    /// (<paramref name="tenant"/> null for a key known to be unknown), false when only the store could say.
    /// </summary>
    bool TryAuthenticateFromMemory(string apiKey, out TenantConfig? tenant);

    /// <summary>The tenant's current config, or null when there is no such tenant.</summary>
    ValueTask<TenantConfig?> GetAsync(string tenantId, CancellationToken cancellationToken = default);
}
