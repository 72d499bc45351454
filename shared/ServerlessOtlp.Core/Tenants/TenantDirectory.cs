namespace ServerlessOtlp.Tenants;

public sealed record TenantDirectoryOptions
{
    /// <summary>How long an answer is reused: a changed config or a revoked key shows within this (issue 4: 10 s).</summary>
    public TimeSpan CacheTtl { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Configs cached (positive answers); past it the oldest go.</summary>
    public int MaxEntries { get; init; } = 10_000;

    /// <summary>Tenant ids cached as absent, apart from the configs, so that misses never push real tenants out.</summary>
    public int MaxNegativeEntries { get; init; } = 10_000;

    /// <summary>
    /// While the store cannot be reached, the last good answers (keys and configs) are served this long
    /// past their TTL, then lookups fail (the gateway answers 503). A key revoked during an outage keeps
    /// working until the store answers again or this runs out.
    /// </summary>
    public TimeSpan MaxStaleness { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>The key rows are reloaded in full at least this often, even when the keys version row says nothing changed.</summary>
    public TimeSpan FullKeyReload { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// An unknown key makes the directory ask whether the keys changed (one point read) at most this
    /// often, so that a key just added or rotated works within it: a bounded cost however many unknown keys arrive.
    /// </summary>
    public TimeSpan MissRecheck { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// <see cref="ITenantDirectory"/> over a <see cref="TenantStore"/>. Every key digest is held in memory,
/// loaded in bulk and refreshed once per <see cref="TenantDirectoryOptions.CacheTtl"/> (one point read of
/// the keys version row; the key rows again only when it moved), so an unknown key costs a hash and a
/// dictionary read — plus, at most once per <see cref="TenantDirectoryOptions.MissRecheck"/> for all of
/// them together, a look at the version row so a new key works at once: never a storage call per key. Configs are cached
/// per tenant for the same TTL, positive and negative apart. When the store is unreachable the last
/// good answers are served for <see cref="TenantDirectoryOptions.MaxStaleness"/>; after that a lookup
/// throws (the gateway answers 503).
/// </summary>
public sealed class TenantDirectory : ITenantDirectory
{
    private readonly TenantStore _store;
    private readonly TenantDirectoryOptions _options;
    private readonly TimeProvider _time;
    private readonly ExpiringCache<string, TenantConfig> _configs;
    private readonly ExpiringCache<string, bool> _absent;
    private readonly SemaphoreSlim _refresh = new(1, 1);
    private volatile KeySnapshot? _keys;

    public TenantDirectory(TenantStore store, TenantDirectoryOptions? options = null, TimeProvider? timeProvider = null)
    {
        _options = options ?? new TenantDirectoryOptions();
        _time = timeProvider ?? TimeProvider.System;
        _store = store;
        _configs = new ExpiringCache<string, TenantConfig>(_options.CacheTtl, _options.MaxEntries, _time, StringComparer.Ordinal);
        _absent = new ExpiringCache<string, bool>(_options.CacheTtl, _options.MaxNegativeEntries, _time, StringComparer.Ordinal);
    }

    /// <summary>Storage calls made for keys: the keys version row and bulk loads (for tests and diagnostics).</summary>
    public long KeyStoreReads => Interlocked.Read(ref _keyStoreReads);

    private long _keyStoreReads;

    public ValueTask<TenantConfig?> AuthenticateAsync(string apiKey, CancellationToken cancellationToken = default)
    {
        if (apiKey.Length is 0 or > ApiKey.MaxLength)
        {
            return ValueTask.FromResult<TenantConfig?>(null);
        }

        var keys = _keys;
        if (keys != null && Age(keys) < _options.CacheTtl)
        {
            string? tenantId = keys.Find(_store.Keys, apiKey);
            if (tenantId is not null)
            {
                return GetAsync(tenantId, cancellationToken);
            }

            if (Age(keys) < _options.MissRecheck)
            {
                return ValueTask.FromResult<TenantConfig?>(null);
            }
        }

        return AuthenticateSlowAsync(apiKey, cancellationToken);
    }

    public bool TryAuthenticateFromMemory(string apiKey, out TenantConfig? tenant)
    {
        tenant = null;
        if (apiKey.Length is 0 or > ApiKey.MaxLength)
        {
            return true;
        }

        var keys = _keys;
        if (keys == null || Age(keys) >= _options.CacheTtl + _options.MaxStaleness)
        {
            return false;
        }

        string? tenantId = keys.Find(_store.Keys, apiKey);
        return tenantId is null || _configs.TryGet(tenantId, out tenant) || _configs.TryGetStale(tenantId, _options.MaxStaleness, out tenant);
    }

    public async ValueTask<TenantConfig?> GetAsync(string tenantId, CancellationToken cancellationToken = default)
    {
        if (_configs.TryGet(tenantId, out var config))
        {
            return config;
        }

        if (_absent.TryGet(tenantId, out _))
        {
            return null;
        }

        try
        {
            var loaded = await _configs.LoadPresentAsync(tenantId, _store, static (id, store) => store.GetAsync(id), cancellationToken);
            if (loaded is null)
            {
                _absent.Set(tenantId, true);
            }

            return loaded;
        }
        catch (Exception) when (_configs.TryGetStale(tenantId, _options.MaxStaleness, out var stale))
        {
            return stale;
        }
    }

    /// <summary>Forgets a tenant's cached config, so the next read goes to the store (after a local apply).</summary>
    public void Invalidate(string tenantId)
    {
        _configs.Remove(tenantId);
        _absent.Remove(tenantId);
    }

    private async ValueTask<TenantConfig?> AuthenticateSlowAsync(string apiKey, CancellationToken cancellationToken)
    {
        var keys = await KeysAsync(cancellationToken);
        string? tenantId = keys.Find(_store.Keys, apiKey);
        return tenantId is null ? null : await GetAsync(tenantId, cancellationToken);
    }

    /// <summary>The key snapshot, refreshed when its TTL is over (one caller refreshes, the others wait for it).</summary>
    private async Task<KeySnapshot> KeysAsync(CancellationToken cancellationToken)
    {
        await _refresh.WaitAsync(cancellationToken);
        try
        {
            var current = _keys;
            if (current != null && Age(current) < _options.MissRecheck)
            {
                return current; // checked by the caller before us (a refresh or a miss's recheck)
            }

            try
            {
                Interlocked.Increment(ref _keyStoreReads);
                long version = await _store.ReadKeysVersionAsync(CancellationToken.None);
                if (current != null && version == current.Version && version != 0 && _time.GetElapsedTime(current.LoadedAt) < _options.FullKeyReload)
                {
                    _keys = current.Renewed(_time.GetTimestamp());
                }
                else
                {
                    Interlocked.Increment(ref _keyStoreReads);
                    var rows = await _store.ListKeyDigestsAsync(CancellationToken.None);
                    long now = _time.GetTimestamp();
                    _keys = new KeySnapshot(rows, version, now, now);
                }

                return _keys;
            }
            catch (Exception) when (current != null && Age(current) < _options.CacheTtl + _options.MaxStaleness)
            {
                return current; // the store is down: the last good keys, for a bounded time
            }
        }
        finally
        {
            _refresh.Release();
        }
    }

    private TimeSpan Age(KeySnapshot keys) => _time.GetElapsedTime(keys.CheckedAt);

    /// <summary>Every key digest the store holds, as of <see cref="CheckedAt"/>.</summary>
    private sealed class KeySnapshot
    {
        private readonly Dictionary<KeyDigest, string> _tenants;

        public KeySnapshot(IEnumerable<(KeyDigest Digest, string Tenant)> rows, long version, long loadedAt, long checkedAt)
        {
            _tenants = [];
            foreach (var (digest, tenant) in rows)
            {
                _tenants[digest] = tenant;
            }

            Version = version;
            LoadedAt = loadedAt;
            CheckedAt = checkedAt;
        }

        private KeySnapshot(KeySnapshot from, long checkedAt)
        {
            _tenants = from._tenants;
            Version = from.Version;
            LoadedAt = from.LoadedAt;
            CheckedAt = checkedAt;
        }

        public long Version { get; }

        /// <summary>When the rows were read (timestamp).</summary>
        public long LoadedAt { get; }

        /// <summary>When the store last confirmed them (timestamp).</summary>
        public long CheckedAt { get; }

        public KeySnapshot Renewed(long checkedAt) => new(this, checkedAt);

        public string? Find(ApiKeyHasher hasher, string apiKey)
        {
            foreach (int version in hasher.AcceptedVersionSpan)
            {
                if (_tenants.TryGetValue(hasher.Digest(apiKey, version), out string? tenant))
                {
                    return tenant;
                }
            }

            return null;
        }
    }
}
