using Microsoft.Extensions.Time.Testing;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Tests.Tenants;

public sealed class TenantDirectoryTests
{
    private const string Key = "acme-key-0001-0123456789";

    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2025-01-01T00:00:00Z"));
    private readonly FakeStore _store = new();

    public TenantDirectoryTests()
    {
        _store.Keys[ApiKey.Hash(Key)] = "acme";
        _store.Configs["acme"] = new TenantConfig { Id = "acme", Version = 1 };
    }

    [Fact]
    public async Task Answers_are_cached_for_the_ttl_positive_and_negative()
    {
        var directory = new TenantDirectory(_store, new TenantDirectoryOptions { CacheTtl = TimeSpan.FromSeconds(10) }, _time);

        for (int i = 0; i < 5; i++)
        {
            Assert.Equal("acme", (await directory.AuthenticateAsync(Key))!.Id);
            Assert.Null(await directory.AuthenticateAsync("unknown-key-0123456789"));
        }

        Assert.Equal(2, _store.KeyReads);
        Assert.Equal(1, _store.ConfigReads);

        _store.Keys.Clear();
        _store.Configs["acme"] = new TenantConfig { Id = "acme", Version = 2 };
        _time.Advance(TimeSpan.FromSeconds(9.9));
        Assert.Equal(1, (await directory.AuthenticateAsync(Key))!.Version);
        _time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Null(await directory.AuthenticateAsync(Key));
        Assert.Equal(2, (await directory.GetAsync("acme"))!.Version);
    }

    [Fact]
    public async Task Empty_and_oversized_keys_are_refused_without_a_lookup()
    {
        var directory = new TenantDirectory(_store, timeProvider: _time);

        Assert.Null(await directory.AuthenticateAsync(""));
        Assert.Null(await directory.AuthenticateAsync(new string('k', ApiKey.MaxLength + 1)));
        Assert.Equal(0, _store.KeyReads);
    }

    [Fact]
    public async Task Concurrent_misses_share_one_lookup()
    {
        _store.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var directory = new TenantDirectory(_store, timeProvider: _time);

        var lookups = Enumerable.Range(0, 20).Select(_ => directory.AuthenticateAsync(Key).AsTask()).ToArray();
        _store.Gate.SetResult();
        var results = await Task.WhenAll(lookups);

        Assert.All(results, r => Assert.Equal("acme", r!.Id));
        Assert.Equal(1, _store.KeyReads);
        Assert.Equal(1, _store.ConfigReads);
    }

    [Fact]
    public async Task A_failed_lookup_is_not_cached()
    {
        var directory = new TenantDirectory(_store, timeProvider: _time);
        _store.Fail = true;

        await Assert.ThrowsAsync<IOException>(() => directory.AuthenticateAsync(Key).AsTask());
        _store.Fail = false;

        Assert.Equal("acme", (await directory.AuthenticateAsync(Key))!.Id);
    }

    [Fact]
    public async Task The_cache_is_bounded_and_evicts_the_oldest()
    {
        var directory = new TenantDirectory(_store, new TenantDirectoryOptions { MaxEntries = 3 }, _time);

        await directory.AuthenticateAsync(Key);
        for (int i = 0; i < 3; i++)
        {
            await directory.AuthenticateAsync($"unknown-key-{i}-0123456789");
        }

        Assert.Equal(4, _store.KeyReads);
        await directory.AuthenticateAsync("unknown-key-2-0123456789"); // still cached
        Assert.Equal(4, _store.KeyReads);
        await directory.AuthenticateAsync(Key); // the oldest: evicted
        Assert.Equal(5, _store.KeyReads);
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

    private sealed class FakeStore : TenantStore
    {
        private int _keyReads;
        private int _configReads;

        public Dictionary<string, string> Keys { get; } = [];

        public Dictionary<string, TenantConfig> Configs { get; } = [];

        public int KeyReads => _keyReads;

        public int ConfigReads => _configReads;

        public TaskCompletionSource? Gate { get; set; }

        public bool Fail { get; set; }

        public override async Task<string?> FindTenantByKeyHashAsync(string keyHash, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _keyReads);
            if (Gate is not null)
            {
                await Gate.Task;
            }

            return Fail ? throw new IOException("storage down") : Keys.GetValueOrDefault(keyHash);
        }

        public override Task<TenantConfig?> GetAsync(string id, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _configReads);
            return Task.FromResult(Configs.GetValueOrDefault(id));
        }
    }
}
