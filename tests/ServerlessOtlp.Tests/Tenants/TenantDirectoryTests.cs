using System.Security.Cryptography;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Time.Testing;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Tests.Tenants;

public sealed class TenantDirectoryTests
{
    private const string Key = "acme-key-0001-0123456789";

    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2025-01-01T00:00:00Z"));
    private readonly FakeStore _store = new(ApiKeyHasher.Default);

    public TenantDirectoryTests()
    {
        _store.SetKey(Key, "acme");
        _store.Configs["acme"] = new TenantConfig { Id = "acme", Version = 1 };
    }

    [Fact]
    public async Task Answers_are_reused_for_the_ttl_and_a_revoked_key_is_refused_once_it_has_passed()
    {
        var directory = new TenantDirectory(_store, new TenantDirectoryOptions { CacheTtl = TimeSpan.FromSeconds(10) }, _time);

        for (int i = 0; i < 5; i++)
        {
            Assert.Equal("acme", (await directory.AuthenticateAsync(Key))!.Id);
            Assert.Null(await directory.AuthenticateAsync("unknown-key-0123456789"));
        }

        Assert.Equal(1, _store.BulkLoads);
        Assert.Equal(1, _store.ConfigReads);

        _store.RemoveKeys();
        _store.Configs["acme"] = new TenantConfig { Id = "acme", Version = 2 };
        _time.Advance(TimeSpan.FromSeconds(9.9));
        Assert.Equal(1, (await directory.AuthenticateAsync(Key))!.Version);
        _time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Null(await directory.AuthenticateAsync(Key));
        Assert.Equal(2, (await directory.GetAsync("acme"))!.Version);
    }

    [Fact]
    public async Task Random_keys_cost_no_storage_call_and_do_not_push_real_tenants_out()
    {
        var directory = new TenantDirectory(_store, new TenantDirectoryOptions { MaxEntries = 3, MaxNegativeEntries = 3 }, _time);
        Assert.NotNull(await directory.AuthenticateAsync(Key));
        long reads = _store.TotalReads;

        for (int i = 0; i < 10_000; i++)
        {
            Assert.Null(await directory.AuthenticateAsync($"random-key-{i}-0123456789"));
        }

        Assert.Equal(reads, _store.TotalReads);
        Assert.NotNull(await directory.AuthenticateAsync(Key));
        Assert.Equal(reads, _store.TotalReads); // the tenant's config was not evicted by the misses
    }

    [Fact]
    public async Task Keys_reload_in_bulk_only_when_the_keys_version_moved()
    {
        var directory = new TenantDirectory(_store, new TenantDirectoryOptions { CacheTtl = TimeSpan.FromSeconds(10), FullKeyReload = TimeSpan.FromHours(1) }, _time);
        await directory.AuthenticateAsync(Key);
        for (int i = 0; i < 5; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(10));
            await directory.AuthenticateAsync(Key);
        }

        Assert.Equal(1, _store.BulkLoads); // five TTLs: five version reads, no reload
        Assert.Equal(6, _store.VersionReads);

        _store.SetKey("new-key-0123456789abcdef", "acme");
        Assert.Null(await directory.AuthenticateAsync("new-key-0123456789abcdef")); // within the TTL
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal("acme", (await directory.AuthenticateAsync("new-key-0123456789abcdef"))!.Id);
        Assert.Equal(2, _store.BulkLoads);
    }

    [Fact]
    public async Task While_the_store_is_down_the_last_good_answers_serve_for_the_bounded_staleness_then_lookups_fail()
    {
        var options = new TenantDirectoryOptions { CacheTtl = TimeSpan.FromSeconds(10), MaxStaleness = TimeSpan.FromMinutes(1) };
        var directory = new TenantDirectory(_store, options, _time);
        Assert.NotNull(await directory.AuthenticateAsync(Key));

        _store.Fail = true;
        _store.RemoveKeys(); // revoked during the outage: not seen until the store answers again
        _time.Advance(TimeSpan.FromSeconds(10) + TimeSpan.FromSeconds(59));
        Assert.Equal("acme", (await directory.AuthenticateAsync(Key))!.Id);
        Assert.True(directory.TryAuthenticateFromMemory(Key, out var fromMemory) && fromMemory?.Id == "acme");

        _time.Advance(TimeSpan.FromSeconds(1));
        await Assert.ThrowsAsync<IOException>(() => directory.AuthenticateAsync(Key).AsTask());
        Assert.False(directory.TryAuthenticateFromMemory(Key, out _));

        _store.Fail = false;
        Assert.Null(await directory.AuthenticateAsync(Key)); // the store answers: the revocation shows
    }

    [Fact]
    public async Task Empty_and_oversized_keys_are_refused_without_a_lookup()
    {
        var directory = new TenantDirectory(_store, timeProvider: _time);

        Assert.Null(await directory.AuthenticateAsync(""));
        Assert.Null(await directory.AuthenticateAsync(new string('k', ApiKey.MaxLength + 1)));
        Assert.Equal(0, _store.TotalReads);
    }

    [Fact]
    public async Task Concurrent_lookups_share_one_refresh()
    {
        _store.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var directory = new TenantDirectory(_store, timeProvider: _time);

        var lookups = Enumerable.Range(0, 20).Select(_ => directory.AuthenticateAsync(Key).AsTask()).ToArray();
        _store.Gate.SetResult();
        var results = await Task.WhenAll(lookups);

        Assert.All(results, r => Assert.Equal("acme", r!.Id));
        Assert.Equal(1, _store.BulkLoads);
        Assert.Equal(1, _store.ConfigReads);
    }

    [Fact]
    public async Task A_failed_first_lookup_is_not_cached()
    {
        var directory = new TenantDirectory(_store, timeProvider: _time);
        _store.Fail = true;

        await Assert.ThrowsAsync<IOException>(() => directory.AuthenticateAsync(Key).AsTask());
        _store.Fail = false;

        Assert.Equal("acme", (await directory.AuthenticateAsync(Key))!.Id);
    }

    [Fact]
    public async Task A_cache_hit_does_not_allocate()
    {
        var directory = new TenantDirectory(_store, timeProvider: _time);
        Assert.NotNull(await directory.AuthenticateAsync(Key));

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            var hit = directory.AuthenticateAsync(Key);
            Assert.True(hit.IsCompletedSuccessfully);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public async Task Keys_are_stored_under_a_pepper_and_two_peppers_are_accepted_during_a_rotation()
    {
        byte[] p1 = RandomNumberGenerator.GetBytes(32), p2 = RandomNumberGenerator.GetBytes(32);
        var v1 = new ApiKeyHasher(new Dictionary<int, byte[]> { [1] = p1 }, null, acceptUnpeppered: false);
        var rowKey = v1.RowKey(Key);
        Assert.StartsWith("p1-", rowKey, StringComparison.Ordinal);
        Assert.DoesNotContain(ApiKey.Hash(Key), rowKey, StringComparison.Ordinal); // the table alone does not let a key be tested offline

        // Rotating: pepper 2 is current, pepper 1 still accepted — a key stored under either authenticates.
        var rotating = new ApiKeyHasher(new Dictionary<int, byte[]> { [1] = p1, [2] = p2 }, 2, acceptUnpeppered: false);
        var store = new FakeStore(rotating);
        store.SetRow(rowKey, "acme");
        store.SetKey("second-key-0123456789abcdef", "acme");
        store.Configs["acme"] = new TenantConfig { Id = "acme" };
        var directory = new TenantDirectory(store, timeProvider: _time);
        Assert.Equal("acme", (await directory.AuthenticateAsync(Key))!.Id);
        Assert.Equal("acme", (await directory.AuthenticateAsync("second-key-0123456789abcdef"))!.Id);
        Assert.StartsWith("p2-", rotating.RowKey("second-key-0123456789abcdef"), StringComparison.Ordinal);

        // Without pepper 1, the old row no longer authenticates.
        var afterRotation = new FakeStore(new ApiKeyHasher(new Dictionary<int, byte[]> { [2] = p2 }, 2, acceptUnpeppered: false));
        afterRotation.SetRow(rowKey, "acme");
        afterRotation.Configs["acme"] = new TenantConfig { Id = "acme" };
        Assert.Null(await new TenantDirectory(afterRotation, timeProvider: _time).AuthenticateAsync(Key));
    }

    [Fact]
    public void Unpeppered_rows_migrate_offline_to_the_row_a_new_key_would_get()
    {
        var hasher = new ApiKeyHasher(new Dictionary<int, byte[]> { [1] = RandomNumberGenerator.GetBytes(32) }, null);
        Assert.True(ApiKeyHasher.TryParseRowKey(ApiKey.Hash(Key), out var legacy));
        Assert.Equal(ApiKeyHasher.Unpeppered, legacy.Version);
        var migrated = hasher.Migrate(legacy);
        Assert.NotNull(migrated);
        Assert.Equal(hasher.RowKey(Key), ApiKeyHasher.RowKey(migrated.Value));
        Assert.True(ApiKeyHasher.TryParseRowKey(ApiKeyHasher.RowKey(migrated.Value), out var back) && back == migrated.Value);
        Assert.Equal([1, 0], hasher.AcceptedVersions); // until AcceptUnpepperedKeys=false
    }

    [Fact]
    public void Peppers_come_from_configuration_and_short_ones_are_refused()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ServerlessOtlp:Tenants:KeyPeppers:1"] = Convert.ToBase64String(new byte[32]),
            ["ServerlessOtlp:Tenants:KeyPeppers:2"] = Convert.ToBase64String(new byte[48]),
            ["ServerlessOtlp:Tenants:KeyPepperVersion"] = "1",
            ["ServerlessOtlp:Tenants:AcceptUnpepperedKeys"] = "false",
        }).Build();
        var hasher = ApiKeyHasher.FromConfiguration(configuration);
        Assert.Equal(1, hasher.CurrentVersion);
        Assert.Equal([1, 2], hasher.AcceptedVersions);

        var weak = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["ServerlessOtlp:Tenants:KeyPeppers:1"] = Convert.ToBase64String(new byte[8]) }).Build();
        Assert.Throws<ArgumentException>(() => ApiKeyHasher.FromConfiguration(weak));
    }

    [Fact]
    public async Task The_in_memory_directory_answers_from_its_file()
    {
        var directory = new InMemoryTenantDirectory(new TenantFile { Tenants = [new TenantConfig { Id = "acme", ApiKeys = [Key] }] });

        Assert.Equal("acme", (await directory.AuthenticateAsync(Key))!.Id);
        Assert.Null(await directory.AuthenticateAsync("other-key-0123456789"));
        Assert.Equal("acme", (await directory.GetAsync("acme"))!.Id);

        directory.Replace(new TenantFile());
        Assert.Null(await directory.AuthenticateAsync(Key));
        Assert.Null(await directory.GetAsync("acme"));
    }

    private sealed class FakeStore(ApiKeyHasher hasher) : TenantStore(hasher)
    {
        private readonly Dictionary<string, string> _rows = [];
        private long _version = 1;
        private int _bulkLoads;
        private int _versionReads;
        private int _configReads;

        public Dictionary<string, TenantConfig> Configs { get; } = [];

        public int BulkLoads => _bulkLoads;

        public int VersionReads => _versionReads;

        public int ConfigReads => _configReads;

        public long TotalReads => _bulkLoads + _versionReads + _configReads;

        public TaskCompletionSource? Gate { get; set; }

        public bool Fail { get; set; }

        public void SetKey(string key, string tenant) => SetRow(Keys.RowKey(key), tenant);

        public void SetRow(string rowKey, string tenant)
        {
            _rows[rowKey] = tenant;
            _version++;
        }

        public void RemoveKeys()
        {
            _rows.Clear();
            _version++;
        }

        public override async Task<long> ReadKeysVersionAsync(CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _versionReads);
            await GateAsync();
            return _version;
        }

        public override async Task<IReadOnlyList<(KeyDigest Digest, string Tenant)>> ListKeyDigestsAsync(CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _bulkLoads);
            await GateAsync();
            return _rows.Select(r => ApiKeyHasher.TryParseRowKey(r.Key, out var d) ? (d, r.Value) : throw new FormatException(r.Key)).ToList();
        }

        public override Task<TenantConfig?> GetAsync(string id, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _configReads);
            return Fail ? Task.FromException<TenantConfig?>(new IOException("storage down")) : Task.FromResult(Configs.GetValueOrDefault(id));
        }

        private async Task GateAsync()
        {
            if (Gate is not null)
            {
                await Gate.Task;
            }

            if (Fail)
            {
                throw new IOException("storage down");
            }
        }
    }
}
