namespace ServerlessOtlp.Tenants;

/// <summary>
/// <see cref="ITenantDirectory"/> from a <see cref="TenantFile"/> held in memory, for unit tests and
/// benchmarks. Hashes keys like the store does. <see cref="Replace"/> swaps the whole file atomically.
/// </summary>
internal sealed class InMemoryTenantDirectory : ITenantDirectory
{
    private volatile Snapshot _snapshot;

    public InMemoryTenantDirectory(TenantFile file)
    {
        _snapshot = new Snapshot(file);
    }

    public ValueTask<TenantConfig?> AuthenticateAsync(string apiKey, CancellationToken cancellationToken = default)
    {
        TryAuthenticateFromMemory(apiKey, out var config);
        return ValueTask.FromResult(config);
    }

    public bool TryAuthenticateFromMemory(string apiKey, out TenantConfig? tenant)
    {
        var snapshot = _snapshot;
        tenant = apiKey.Length is > 0 and <= ApiKey.MaxLength && snapshot.ByKey.TryGetValue(ApiKeyHasher.Default.Digest(apiKey, ApiKeyHasher.Unpeppered), out var found) ? found : null;
        return true;
    }

    public ValueTask<TenantConfig?> GetAsync(string tenantId, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(_snapshot.ById.GetValueOrDefault(tenantId));

    public void Replace(TenantFile file) => _snapshot = new Snapshot(file);

    private sealed class Snapshot
    {
        public Snapshot(TenantFile file)
        {
            foreach (var tenant in file.Tenants)
            {
                ById[tenant.Id] = tenant;
                foreach (string key in tenant.ApiKeys ?? [])
                {
                    ByKey[ApiKeyHasher.Default.Digest(key, ApiKeyHasher.Unpeppered)] = tenant;
                }
            }
        }

        public Dictionary<string, TenantConfig> ById { get; } = new(StringComparer.Ordinal);

        public Dictionary<KeyDigest, TenantConfig> ByKey { get; } = [];
    }
}
