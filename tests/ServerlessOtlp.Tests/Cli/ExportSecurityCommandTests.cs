using System.Globalization;
using System.Text.Json;
using Azure.Data.Tables;
using ServerlessOtlp.Export.Otlp;
using ServerlessOtlp.Export.Secrets;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Cli;

/// <summary>The real otlpctl refusing hostile tenant files at apply time, and its secrets commands (issue 14).</summary>
[Collection(AzuriteCollection.Name)]
public sealed class ExportSecurityCommandTests(AzuriteFixture azurite)
{
    private const string Hostile = """
        {
          "tenants": [ {
            "id": "mallory",
            "destinations": [
              { "name": "imds", "kind": "otlphttp", "endpoint": "http://[::ffff:169.254.169.254]:80" },
              { "name": "tempo", "kind": "otlphttp", "endpoint": "https://tempo.example.com",
                "headers": { "Authorization": "secret:ServerlessOtlp:Storage:ConnectionString" } }
            ]
          } ]
        }
        """;

    [Fact]
    public async Task Tenants_apply_refuses_a_metadata_endpoint_and_a_path_like_secret_with_file_line_and_field()
    {
        string file = Path.Combine(CliTestData.TempDir("otlpctl-hostile"), "mallory.json");
        await File.WriteAllTextAsync(file, Hostile);

        using var apply = await Otlpctl.RunAsync("tenants", "apply", "-f", file, "--storage", azurite.ConnectionString);

        Assert.True(apply.ExitCode == 2, apply.ToString());
        Assert.Contains($"{file}:5: tenants[0].destinations[0].endpoint: ", apply.Stderr, StringComparison.Ordinal);
        Assert.Contains("never connect there", apply.Stderr, StringComparison.Ordinal);
        Assert.Contains($"{file}:7: tenants[0].destinations[1].headers.Authorization: invalid secret reference", apply.Stderr, StringComparison.Ordinal);
        Assert.Null(await new TenantStore(new TableServiceClient(azurite.ConnectionString)).GetAsync("mallory"));
    }

    [Fact]
    public async Task Dev_refuses_a_tenant_file_with_a_metadata_endpoint_before_starting()
    {
        string dir = CliTestData.TempDir("otlpctl-hostile");
        string file = Path.Combine(dir, "mallory.json");
        await File.WriteAllTextAsync(file, Hostile);

        using var dev = await Otlpctl.RunAsync(
            "dev", "--tenants", file, "--storage", azurite.ConnectionString, "--data-dir", dir,
            "--grpc-port", TestPorts.Next().ToString(CultureInfo.InvariantCulture), "--http-port", TestPorts.Next().ToString(CultureInfo.InvariantCulture), "--management-port", TestPorts.Next().ToString(CultureInfo.InvariantCulture));

        Assert.True(dev.ExitCode == 2, dev.ToString());
        Assert.Contains($"{file}:5: tenants[0].destinations[0].endpoint: ", dev.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tenants_apply_with_a_file_root_refuses_a_path_outside_the_tenants_directory()
    {
        string dir = CliTestData.TempDir("otlpctl-root");
        string file = Path.Combine(dir, "tenants.json");
        await File.WriteAllTextAsync(file, """
            { "tenants": [ { "id": "mallory", "destinations": [
                { "name": "files", "kind": "file", "path": "../t-qivthlmhyfekbiqklot42xv4vj" } ] } ] }
            """);

        using var apply = await Otlpctl.RunAsync(
            new Dictionary<string, string> { ["ServerlessOtlp__Export__FileRoot"] = dir },
            "tenants", "apply", "-f", file, "--storage", azurite.ConnectionString);

        Assert.True(apply.ExitCode == 2, apply.ToString());
        Assert.Contains($"{file}:2: tenants[0].destinations[0].path: ", apply.Stderr, StringComparison.Ordinal);
        Assert.Contains("leaves its directory", apply.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Secrets_name_prints_where_a_tenants_secret_lives()
    {
        using var name = await Otlpctl.RunAsync("secrets", "name", "--tenant", "Acme", "tempo-token", "--output", "json");

        Assert.True(name.ExitCode == 0, name.ToString());
        using var json = JsonDocument.Parse(name.Stdout);
        Assert.Equal("t-g4bwzwhzorwtguby5sus7cttvz--tempo-token", json.RootElement.GetProperty("keyVaultSecret").GetString());
        Assert.Equal("ServerlessOtlp__Secrets__t-g4bwzwhzorwtguby5sus7cttvz--tempo-token", json.RootElement.GetProperty("environmentVariable").GetString());

        using var invalid = await Otlpctl.RunAsync("secrets", "name", "--tenant", "acme", "ServerlessOtlp:Storage");
        Assert.True(invalid.ExitCode == 2, invalid.ToString());
    }

    [Fact]
    public async Task Secrets_migrate_without_a_vault_lists_each_tenants_namespaced_setting_and_changes_nothing()
    {
        string run = Guid.NewGuid().ToString("N")[..8];
        string a = "mig-a-" + run, b = "mig-b-" + run;
        var store = new TenantStore(new TableServiceClient(azurite.ConnectionString));
        await store.EnsureCreatedAsync();
        var tempo = new DestinationConfig
        {
            Name = "tempo",
            Kind = OtlpHttpDestination.KindName,
            Endpoint = "https://tempo.example.com",
            Headers = new Dictionary<string, string> { ["Authorization"] = "secret:tempo-token" },
        };
        await store.ApplyAsync(new TenantFile { Tenants = [new TenantConfig { Id = a, Destinations = [tempo] }, new TenantConfig { Id = b, Destinations = [tempo] }] });
        var before = await store.GetAsync(a);

        foreach (string tenant in new[] { a, b })
        {
            using var migrate = await Otlpctl.RunAsync("secrets", "migrate", "--dry-run", "--tenant", tenant, "--output", "json", "--storage", azurite.ConnectionString);

            Assert.True(migrate.ExitCode == 0, migrate.ToString());
            using var json = JsonDocument.Parse(migrate.Stdout);
            Assert.True(json.RootElement.GetProperty("dryRun").GetBoolean());
            var item = Assert.Single(json.RootElement.GetProperty("items").EnumerateArray());
            Assert.Equal(tenant, item.GetProperty("tenant").GetString());
            Assert.Equal("setSetting", item.GetProperty("action").GetString());
            Assert.Equal(ConfigurationSecretResolver.KeyOf(tenant, "tempo-token").Replace(":", "__", StringComparison.Ordinal), item.GetProperty("environmentVariable").GetString());
            Assert.Equal(TenantNamespace.SecretName(tenant, "tempo-token"), item.GetProperty("keyVaultSecret").GetString());
        }

        using (var table = await Otlpctl.RunAsync("secrets", "migrate", "--tenant", a, "--storage", azurite.ConnectionString))
        {
            Assert.True(table.ExitCode == 0, table.ToString());
            Assert.Contains($"ServerlessOtlp__Secrets__{TenantNamespace.SecretName(a, "tempo-token")}", table.Stdout, StringComparison.Ordinal);
        }

        Assert.Equal(TenantJson.SerializeForStore(before!), TenantJson.SerializeForStore((await store.GetAsync(a))!));

        using var unknown = await Otlpctl.RunAsync("secrets", "migrate", "--tenant", "nobody-" + run, "--storage", azurite.ConnectionString);
        Assert.True(unknown.ExitCode == 2, unknown.ToString());
    }
}
