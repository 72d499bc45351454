namespace ServerlessOtlp.Tenants;

/// <summary>
/// Who a request belongs to, and that tenant's config, as the gateway and the drainers see
/// them. Implementations cache: a change (a new config, a revoked key) shows within their TTL.
/// </summary>
public interface ITenantDirectory
{
    /// <summary>The config of the tenant that holds <paramref name="apiKey"/>, or null for an unknown key.</summary>
    ValueTask<TenantConfig?> AuthenticateAsync(string apiKey, CancellationToken cancellationToken = default);

    /// <summary>The tenant's current config, or null when there is no such tenant.</summary>
    ValueTask<TenantConfig?> GetAsync(string tenantId, CancellationToken cancellationToken = default);
}
