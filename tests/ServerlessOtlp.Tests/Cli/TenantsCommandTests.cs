using Azure.Data.Tables;
using Azure.Storage.Blobs;
using ServerlessOtlp.Cli.Local;
using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Cli;

[Collection(AzuriteCollection.Name)]
public sealed class TenantsCommandTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Apply_list_rotate_key_and_the_old_key_is_refused()
    {
        string dir = CliTestData.TempDir("otlpctl-tenants");
        string tenant = "cli-" + Guid.NewGuid().ToString("N")[..8];
        string oldKey = CliTestData.NewKey();
        string file = CliTestData.TenantFile(dir, tenant, oldKey, Path.Combine(dir, "out"));

        using (var apply = await Otlpctl.RunAsync("tenants", "apply", "-f", file, "--storage", azurite.ConnectionString))
        {
            Assert.True(apply.ExitCode == 0, apply.ToString());
            Assert.Contains(tenant, apply.Stderr, StringComparison.Ordinal); // a message, not data
        }

        using (var list = await Otlpctl.RunAsync("tenants", "list", "--storage", azurite.ConnectionString))
        {
            Assert.True(list.ExitCode == 0, list.ToString());
            Assert.Contains(tenant, list.Stdout, StringComparison.Ordinal);
        }

        var store = new TenantStore(new TableServiceClient(azurite.ConnectionString));
        Assert.Equal(tenant, (await new TenantDirectory(store).AuthenticateAsync(oldKey))?.Id);

        string newKey;
        using (var rotate = await Otlpctl.RunAsync("tenants", "rotate-key", tenant, "--storage", azurite.ConnectionString))
        {
            Assert.True(rotate.ExitCode == 0, rotate.ToString());
            newKey = CliTestData.KeyFrom(rotate.Stdout);
        }

        // A fresh directory has nothing cached: what a gateway sees once its TTL has passed.
        var directory = new TenantDirectory(store, new TenantDirectoryOptions { CacheTtl = TimeSpan.FromMilliseconds(1) });
        Assert.Null(await directory.AuthenticateAsync(oldKey));
        Assert.Equal(tenant, (await directory.AuthenticateAsync(newKey))?.Id);

        using (var remove = await Otlpctl.RunAsync("tenants", "remove", tenant, "--yes", "--storage", azurite.ConnectionString))
        {
            Assert.True(remove.ExitCode == 0, remove.ToString());
        }

        Assert.Null(await store.GetAsync(tenant));
    }

    [Fact]
    public async Task An_invalid_tenant_file_is_refused_with_file_line_and_field()
    {
        string dir = CliTestData.TempDir("otlpctl-tenants");
        string file = Path.Combine(dir, "bad.json");
        await File.WriteAllTextAsync(file, "{\n  \"tenants\": [ {\n    \"id\": \"bad\",\n    \"destinations\": [ { \"name\": \"x\", \"kind\": \"nosuchkind\", \"path\": \"/tmp\" } ]\n  } ]\n}\n");
        using var apply = await Otlpctl.RunAsync("tenants", "apply", "-f", file, "--storage", azurite.ConnectionString);
        Assert.True(apply.ExitCode == 2, apply.ToString());
        Assert.Contains($"{file}:4:", apply.Stderr, StringComparison.Ordinal);
        Assert.Contains("tenants[0].destinations[0].kind", apply.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unreachable_storage_says_how_to_fix_it()
    {
        int port = TestPorts.Next();
        string conn = $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{port}/devstoreaccount1;TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;";
        using var list = await Otlpctl.RunAsync("tenants", "list", "--storage", conn);
        Assert.True(list.ExitCode == 1, list.ToString());
        Assert.Contains("is Azurite running?", list.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dev_seeds_tenant_dev_once_with_a_file_destination()
    {
        string table = "t" + Guid.NewGuid().ToString("N")[..12];
        var store = new TenantStore(new TableServiceClient(azurite.ConnectionString), table, new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient(StorageNames.DefaultTenants));
        await store.EnsureCreatedAsync();
        string output = CliTestData.TempDir("otlpctl-dev-out");

        var first = await DevTenant.EnsureAsync(store, output);
        Assert.True(first.Created);
        Assert.NotNull(first.Key);
        var config = await new TenantDirectory(store).AuthenticateAsync(first.Key!);
        Assert.Equal(DevTenant.Id, config?.Id);
        var destination = Assert.Single(config!.Destinations);
        Assert.Equal(FileDestination.KindName, destination.Kind);
        Assert.Equal(Path.GetFullPath(output), FileDestination.SettingsOf(destination).Path);
        Assert.Equal(1, Assert.Single(await store.ListAsync()).KeyCount);

        var second = await DevTenant.EnsureAsync(store, output);
        Assert.False(second.Created);
        Assert.Null(second.Key);
    }
}
