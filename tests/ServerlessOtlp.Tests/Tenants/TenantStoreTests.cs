using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Microsoft.Extensions.Time.Testing;
using ServerlessOtlp.Export.Loki;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Tenants;

[Collection(AzuriteCollection.Name)]
public sealed class TenantStoreTests
{
    private const string AcmeKey1 = "acme-key-0001-0123456789";
    private const string AcmeKey2 = "acme-key-0002-0123456789";
    private const string BetaKey = "beta-key-0001-0123456789";

    private readonly AzuriteFixture _fixture;

    public TenantStoreTests(AzuriteFixture fixture)
    {
        _fixture = fixture;
    }

    [Fact]
    public async Task Apply_list_authenticate_rotate_and_remove()
    {
        var (store, table, _) = await NewStoreAsync();
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2025-01-01T00:00:00Z"));
        var directory = new TenantDirectory(store, new TenantDirectoryOptions { CacheTtl = TimeSpan.FromSeconds(10) }, time);

        var applied = await store.ApplyAsync(Parse(AcmeAndBeta(percentage: 10)));

        Assert.Equal(
            [new TenantApplied("acme", 1, true, 2, 0, false), new TenantApplied("beta", 1, true, 1, 0, false)],
            applied.Tenants);
        Assert.Equal(
            [("acme", 1L, 2, 2), ("beta", 1L, 1, 0)],
            (await store.ListAsync()).Select(t => (t.Id, t.Version, t.KeyCount, t.DestinationCount)));

        var acme = await directory.AuthenticateAsync(AcmeKey2);
        Assert.Equal(("acme", 1L), (acme!.Id, acme.Version));
        Assert.Null(acme.ApiKeys);
        Assert.Equal(10, acme.Sampling!.Traces!.SamplingPercentage);
        Assert.Equal("http://tempo:4318", acme.Destinations[1].Endpoint);
        Assert.Equal("beta", (await directory.AuthenticateAsync(BetaKey))!.Id);
        Assert.Null(await directory.AuthenticateAsync("not-a-key-of-anyone-at-all"));
        Assert.Equal("acme", await store.FindTenantByKeyAsync(AcmeKey1));

        // Rotate: the new key works at once, the old ones are gone from the store, and the
        // directory refuses them once its cache entries expire.
        string newKey = await store.RotateKeyAsync("acme");
        Assert.Null(await store.FindTenantByKeyAsync(AcmeKey1));
        Assert.Null(await store.FindTenantByKeyAsync(AcmeKey2));
        time.Advance(new TenantDirectoryOptions().MissRecheck); // a new key works within the miss recheck (1 s)
        Assert.Equal("acme", (await directory.AuthenticateAsync(newKey))!.Id);
        Assert.Null(await directory.AuthenticateAsync(AcmeKey2)); // the reload that found the new key found the old ones gone
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Null(await directory.AuthenticateAsync(AcmeKey2));
        Assert.Null(await directory.AuthenticateAsync(AcmeKey1));
        Assert.Equal("acme", (await directory.AuthenticateAsync(newKey))!.Id);
        Assert.Equal(1, (await store.ListAsync()).Single(t => t.Id == "acme").KeyCount);

        // A changed config: new version, seen by the directory within the TTL.
        var reapplied = await store.ApplyAsync(Parse(AcmeAndBeta(percentage: 25, acmeKeys: false)));
        Assert.Equal((2L, false, 0, 0), (reapplied.Tenants[0].Version, reapplied.Tenants[0].Created, reapplied.Tenants[0].KeysAdded, reapplied.Tenants[0].KeysRemoved));
        Assert.Equal(10, (await directory.GetAsync("acme"))!.Sampling!.Traces!.SamplingPercentage);
        time.Advance(TimeSpan.FromSeconds(10));
        var changed = await directory.AuthenticateAsync(newKey); // no apiKeys in the file: the rotated key stays
        Assert.Equal((2L, 25.0), (changed!.Version, changed.Sampling!.Traces!.SamplingPercentage));

        Assert.True(await store.RemoveAsync("acme"));
        Assert.False(await store.RemoveAsync("acme"));
        Assert.Null(await store.GetAsync("acme"));
        Assert.Null(await store.FindTenantByKeyAsync(newKey));
        Assert.Equal(["beta"], (await store.ListAsync()).Select(t => t.Id));
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Null(await directory.AuthenticateAsync(newKey));
        Assert.Null(await directory.GetAsync("acme"));
        Assert.Equal(1, await CountAsync(table, "PartitionKey eq 'key'"));
    }

    [Fact]
    public async Task Apply_replaces_a_tenants_keys_with_the_files()
    {
        var (store, _, _) = await NewStoreAsync();
        await store.ApplyAsync(Parse(AcmeAndBeta(percentage: 10)));

        var result = await store.ApplyAsync(Parse($$"""{ "tenants": [ { "id": "acme", "apiKeys": ["{{AcmeKey2}}", "acme-key-0003-0123456789"] } ] }"""));

        Assert.Equal((1, 1), (result.Tenants[0].KeysAdded, result.Tenants[0].KeysRemoved));
        Assert.Null(await store.FindTenantByKeyAsync(AcmeKey1));
        Assert.Equal("acme", await store.FindTenantByKeyAsync(AcmeKey2));
        Assert.Equal("acme", await store.FindTenantByKeyAsync("acme-key-0003-0123456789"));
        Assert.Equal("beta", await store.FindTenantByKeyAsync(BetaKey));
    }

    [Fact]
    public async Task A_key_held_by_another_tenant_is_refused_unless_it_moves_in_the_same_apply()
    {
        var (store, _, _) = await NewStoreAsync();
        await store.ApplyAsync(Parse(AcmeAndBeta(percentage: 10)));

        var ex = await Assert.ThrowsAsync<TenantConfigException>(() =>
            store.ApplyAsync(Parse($$"""{ "tenants": [ { "id": "gamma", "apiKeys": ["{{BetaKey}}"] } ] }""")));
        Assert.Equal("tenants[0].apiKeys[0]: this API key already belongs to tenant \"beta\"; a key identifies exactly one tenant", Assert.Single(ex.Errors).ToString());
        Assert.Null(await store.GetAsync("gamma")); // nothing written

        await store.ApplyAsync(Parse($$"""{ "tenants": [ { "id": "gamma", "apiKeys": ["{{BetaKey}}"] }, { "id": "beta", "apiKeys": [] } ] }"""));
        Assert.Equal("gamma", await store.FindTenantByKeyAsync(BetaKey));
        Assert.Equal(0, (await store.ListAsync()).Single(t => t.Id == "beta").KeyCount);
    }

    [Fact]
    public async Task Add_creates_a_tenant_with_a_generated_key_once()
    {
        var (store, _, _) = await NewStoreAsync();

        string key = await store.AddAsync("new-tenant");

        Assert.Equal("new-tenant", await store.FindTenantByKeyAsync(key));
        var config = await store.GetAsync("new-tenant");
        Assert.Equal(("new-tenant", 1L), (config!.Id, config.Version));
        Assert.Empty(config.Destinations);
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.AddAsync("new-tenant"));
        await Assert.ThrowsAsync<ArgumentException>(() => store.AddAsync("a/b"));
        await Assert.ThrowsAsync<KeyNotFoundException>(() => store.RotateKeyAsync("nobody"));
    }

    [Fact]
    public async Task A_large_config_goes_to_a_blob_and_old_versions_are_deleted()
    {
        var (store, table, blobs) = await NewStoreAsync();
        var statements = Enumerable.Range(0, 1500).Select(i => $"set(span.attributes[\"attribute.number.{i}\"], \"a value long enough to matter\")").ToList();
        var tenant = new TenantConfig
        {
            Id = "big",
            ApiKeys = [AcmeKey1],
            Transforms = new OttlStatements { Traces = statements },
            Destinations = [new DestinationConfig { Name = "loki", Kind = LokiDestination.KindName, Endpoint = "http://loki:3100/loki/api/v1/push" }],
        };
        Assert.True(TenantJson.SerializeForStore(tenant).Length > TenantStore.MaxInlineConfigChars);

        var first = await store.ApplyAsync(new TenantFile { Tenants = [tenant] });
        var second = await store.ApplyAsync(new TenantFile { Tenants = [tenant] });

        Assert.True(first.Tenants[0].ConfigInBlob);
        Assert.Equal(2, second.Tenants[0].Version);
        var row = (await table.GetEntityAsync<TableEntity>("tenant", "big")).Value;
        Assert.Null(row.GetString("Config"));
        Assert.Equal("big/v2.json", row.GetString("ConfigBlob"));
        Assert.Equal(["big/v2.json"], await BlobNamesAsync(blobs));
        var read = await store.GetAsync("big");
        Assert.Equal(statements, read!.Transforms!.Traces);
        Assert.Equal(2, read.Version);
        Assert.Equal([ServerlessOtlp.Otlp.Signal.Logs], read.Destinations[0].Signals); // defaulted from the kind by ApplyAsync

        // Back under the limit: inline again, and the blob is gone.
        await store.ApplyAsync(new TenantFile { Tenants = [tenant with { Transforms = null }] });
        Assert.Empty(await BlobNamesAsync(blobs));
        Assert.Null((await store.GetAsync("big"))!.Transforms);

        await store.ApplyAsync(new TenantFile { Tenants = [tenant] });
        Assert.True(await store.RemoveAsync("big"));
        Assert.Empty(await BlobNamesAsync(blobs));
    }

    [Fact]
    public async Task A_large_config_without_a_blob_container_is_refused()
    {
        var table = new TableServiceClient(_fixture.ConnectionString).GetTableClient(UniqueName());
        var store = new TenantStore(table);
        await store.EnsureCreatedAsync();
        var statements = Enumerable.Range(0, 1500).Select(i => $"set(span.attributes[\"attribute.number.{i}\"], \"a value long enough to matter\")").ToList();

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            store.ApplyAsync(new TenantFile { Tenants = [new TenantConfig { Id = "big", Transforms = new OttlStatements { Traces = statements } }] }));
        Assert.Contains("no blob container", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Keys_are_stored_only_as_hashes()
    {
        var (store, table, _) = await NewStoreAsync();
        await store.ApplyAsync(Parse(AcmeAndBeta(percentage: 10)));
        string added = await store.AddAsync("gamma");
        string rotated = await store.RotateKeyAsync("beta");
        string[] plainKeys = [AcmeKey1, AcmeKey2, BetaKey, added, rotated];

        var keyRows = new List<string>();
        await foreach (var entity in table.QueryAsync<TableEntity>())
        {
            foreach (var (name, value) in entity)
            {
                string text = value?.ToString() ?? "";
                foreach (string key in plainKeys)
                {
                    Assert.DoesNotContain(key, text, StringComparison.Ordinal);
                    Assert.DoesNotContain(key, name, StringComparison.Ordinal);
                }
            }

            if (entity.PartitionKey == "key")
            {
                keyRows.Add(entity.RowKey);
            }
        }

        Assert.Equal(
            new[] { AcmeKey1, AcmeKey2, added, rotated }.Select(k => ApiKey.Hash(k)).Order(StringComparer.Ordinal),
            keyRows.Order(StringComparer.Ordinal));
        Assert.All(keyRows, h => Assert.Matches("^[0-9a-f]{64}$", h));
    }

    [Fact]
    public async Task An_invalid_model_is_refused_before_anything_is_written()
    {
        var (store, table, _) = await NewStoreAsync();

        var ex = await Assert.ThrowsAsync<TenantConfigException>(() =>
            store.ApplyAsync(new TenantFile { Tenants = [new TenantConfig { Id = "ok" }, new TenantConfig { Id = "..", ApiKeys = ["short"] }] }));

        Assert.Equal(["tenants[1].id", "tenants[1].apiKeys[0]"], ex.Errors.Select(e => e.Path));
        Assert.Equal(0, await CountAsync(table, "PartitionKey eq 'tenant'"));
    }

    private static TenantFile Parse(string json) => TenantFileParser.Parse(json, "test.json");

    private static string AcmeAndBeta(double percentage, bool acmeKeys = true) => $$"""
        { "tenants": [
          { "id": "acme",
            {{(acmeKeys ? $"\"apiKeys\": [\"{AcmeKey1}\", \"{AcmeKey2}\"]," : "")}}
            "sampling": { "traces": { "mode": "proportional", "samplingPercentage": {{percentage}} } },
            "destinations": [
              { "name": "files", "kind": "file", "path": "files" },
              { "name": "tempo", "kind": "otlphttp", "signals": ["traces"], "endpoint": "http://tempo:4318",
                "headers": { "X-Scope-OrgID": "acme", "Authorization": "secret:tempo-token" } } ] },
          { "id": "beta", "apiKeys": ["{{BetaKey}}"] } ] }
        """;

    private static string UniqueName() => "t" + Guid.NewGuid().ToString("N");

    private async Task<(TenantStore Store, TableClient Table, BlobContainerClient Blobs)> NewStoreAsync()
    {
        var table = new TableServiceClient(_fixture.ConnectionString).GetTableClient(UniqueName());
        var blobs = new BlobServiceClient(_fixture.ConnectionString).GetBlobContainerClient("c" + Guid.NewGuid().ToString("N"));
        var store = new TenantStore(table, blobs);
        await store.EnsureCreatedAsync();
        return (store, table, blobs);
    }

    private static async Task<int> CountAsync(TableClient table, string filter)
    {
        int n = 0;
        await foreach (var _ in table.QueryAsync<TableEntity>(filter))
        {
            n++;
        }

        return n;
    }

    private static async Task<List<string>> BlobNamesAsync(BlobContainerClient blobs)
    {
        var names = new List<string>();
        await foreach (var blob in blobs.GetBlobsAsync(Azure.Storage.Blobs.Models.BlobTraits.None, Azure.Storage.Blobs.Models.BlobStates.None, null, default))
        {
            names.Add(blob.Name);
        }

        return names;
    }
}
