namespace ServerlessOtlp.Tenants;

public sealed record TenantDirectoryOptions
{
    /// <summary>How long an answer is reused: a changed config or a revoked key shows within this (issue 4: 10 s).</summary>
    public TimeSpan CacheTtl { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Entries per cache (keys, configs); past it the oldest go.</summary>
    public int MaxEntries { get; init; } = 10_000;
}

/// <summary>
/// <see cref="ITenantDirectory"/> over a <see cref="TenantStore"/>, caching positive and negative
/// answers for <see cref="TenantDirectoryOptions.CacheTtl"/>: key digest → tenant id, and tenant
/// id → config. A hit hashes the key (SHA-256, on the stack) and reads two dictionaries, without
/// allocating; a miss is one table point read per cache, shared by concurrent callers. A store
/// failure is not cached: it surfaces to the caller (the gateway answers 503) and the next
/// request tries again.
/// </summary>
public sealed class TenantDirectory : ITenantDirectory
{
    private readonly TenantStore _store;
    private readonly ExpiringCache<KeyDigest, string?> _keys;
    private readonly ExpiringCache<string, TenantConfig?> _configs;

    public TenantDirectory(TenantStore store, TenantDirectoryOptions? options = null, TimeProvider? timeProvider = null)
    {
        options ??= new TenantDirectoryOptions();
        var time = timeProvider ?? TimeProvider.System;
        _store = store;
        _keys = new ExpiringCache<KeyDigest, string?>(options.CacheTtl, options.MaxEntries, time);
        _configs = new ExpiringCache<string, TenantConfig?>(options.CacheTtl, options.MaxEntries, time, StringComparer.Ordinal);
    }

    public ValueTask<TenantConfig?> AuthenticateAsync(string apiKey, CancellationToken cancellationToken = default)
    {
        if (apiKey.Length is 0 or > ApiKey.MaxLength)
        {
            return ValueTask.FromResult<TenantConfig?>(null);
        }

        var digest = KeyDigest.Of(apiKey);
        if (_keys.TryGet(digest, out string? tenantId))
        {
            return tenantId is null ? ValueTask.FromResult<TenantConfig?>(null) : GetAsync(tenantId, cancellationToken);
        }

        return AuthenticateSlowAsync(digest, cancellationToken);
    }

    public bool TryAuthenticateFromMemory(string apiKey, out TenantConfig? tenant)
    {
        tenant = null;
        if (apiKey.Length is 0 or > ApiKey.MaxLength)
        {
            return true;
        }

        if (!_keys.TryGet(KeyDigest.Of(apiKey), out string? tenantId))
        {
            return false;
        }

        return tenantId is null || _configs.TryGet(tenantId, out tenant);
    }

    public ValueTask<TenantConfig?> GetAsync(string tenantId, CancellationToken cancellationToken = default) =>
        _configs.GetOrLoadAsync(tenantId, _store, static (id, store) => store.GetAsync(id), cancellationToken);

    /// <summary>Forgets a tenant's cached config, so the next read goes to the store (after a local apply).</summary>
    public void Invalidate(string tenantId) => _configs.Remove(tenantId);

    private async ValueTask<TenantConfig?> AuthenticateSlowAsync(KeyDigest digest, CancellationToken cancellationToken)
    {
        string? tenantId = await _keys.GetOrLoadAsync(digest, _store, static (d, store) => store.FindTenantByKeyHashAsync(d.ToHex()), cancellationToken);
        return tenantId is null ? null : await GetAsync(tenantId, cancellationToken);
    }
}
