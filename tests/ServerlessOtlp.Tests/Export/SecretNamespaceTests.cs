using Microsoft.Extensions.Time.Testing;
using ServerlessOtlp.Export;
using ServerlessOtlp.Export.Egress;
using ServerlessOtlp.Export.Otlp;
using ServerlessOtlp.Export.Secrets;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Tests.Export;

/// <summary>Secret references resolve only in the tenant's own namespace (issue 14, item 9).</summary>
public sealed class SecretNamespaceTests
{
    private static readonly string AcmeToken = ConfigurationSecretResolver.KeyOf("acme", "token");

    [Fact]
    public async Task A_reference_resolves_only_in_its_tenants_namespace()
    {
        var resolver = new ConfigurationSecretResolver(EgressTests.Configuration(new()
        {
            [AcmeToken] = "acme's token",
            ["ServerlessOtlp:Secrets:token"] = "the old flat secret",
            ["token"] = "any setting",
            ["ServerlessOtlp:Storage:ConnectionString"] = "the platform's storage key",
        }));

        Assert.Equal("acme's token", await resolver.ResolveAsync("acme", "token"));
        Assert.Equal("acme's token", await resolver.ResolveAsync("acme", "TOKEN")); // names are the tenant's, case-insensitive like Key Vault's

        // Ids that differ by case or by a special character are other tenants; nothing falls back.
        foreach (string other in new[] { "Acme", "ACME", "acme.", "acme-", "globex" })
        {
            Assert.Null(await resolver.ResolveAsync(other, "token"));
        }

        // Nothing path-like reaches other settings, and another tenant's namespaced name is just a name in mine.
        Assert.Null(await resolver.ResolveAsync("mallory", "ServerlessOtlp:Storage:ConnectionString"));
        Assert.Null(await resolver.ResolveAsync("mallory", "../token"));
        Assert.Null(await resolver.ResolveAsync("mallory", TenantNamespace.SecretName("acme", "token")));
    }

    [Fact]
    public async Task Key_vault_is_asked_only_for_the_tenants_namespaced_name()
    {
        var vault = new KeyVaultDouble();
        vault.Secrets[TenantNamespace.SecretName("acme", "tempo-token")] = "acme's vault token";
        vault.Secrets["tempo-token"] = "the old flat secret";
        vault.Secrets["storage-key"] = "the platform's key";
        var resolver = new KeyVaultSecretResolver(EgressTests.Configuration(new()), vault.Client());

        Assert.Equal("acme's vault token", await resolver.ResolveAsync("acme", "tempo-token"));
        Assert.Null(await resolver.ResolveAsync("globex", "tempo-token"));
        Assert.Null(await resolver.ResolveAsync("globex", "storage-key"));
        Assert.Null(await resolver.ResolveAsync("globex", "storage.key"));

        Assert.Equal(
            [TenantNamespace.SecretName("acme", "tempo-token"), TenantNamespace.SecretName("globex", "tempo-token"), TenantNamespace.SecretName("globex", "storage-key")],
            vault.Read);
    }

    [Fact]
    public async Task An_unresolvable_reference_is_retryable_during_the_migration_window_then_permanent()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2025, 6, 1, 0, 0, 0, TimeSpan.Zero));
        var headers = new DestinationHeaders(new ConfigurationSecretResolver(EgressTests.Configuration(new())), migration: new SecretMigrationOptions { GracePeriod = TimeSpan.FromDays(7) }, time: time);
        var destination = Destination("secret:tempo-token");

        var first = (await headers.ResolveAsync("acme", destination)).Failure!.Value;
        Assert.Equal(ExportStatus.Transient, first.Status);
        Assert.Contains(TenantNamespace.SecretName("acme", "tempo-token"), first.Message, StringComparison.Ordinal);
        Assert.Contains("otlpctl secrets migrate", first.Message, StringComparison.Ordinal);
        Assert.Contains("2025-06-08", first.Message, StringComparison.Ordinal);

        // Past the inline budget: the batch goes to the retry store at once instead of retrying inline.
        Assert.True(first.RetryAfter > new ExportResilienceOptions().InlineBudget);

        time.Advance(TimeSpan.FromDays(7) - TimeSpan.FromSeconds(1));
        Assert.Equal(ExportStatus.Transient, (await headers.ResolveAsync("acme", destination)).Failure!.Value.Status);

        time.Advance(TimeSpan.FromSeconds(1));
        var after = (await headers.ResolveAsync("acme", destination)).Failure!.Value;
        Assert.Equal(ExportStatus.Permanent, after.Status);
        Assert.Contains("migration window ended", after.Message, StringComparison.Ordinal);

        // The window is per (tenant, reference): another tenant's first failure opens its own.
        Assert.Equal(ExportStatus.Transient, (await headers.ResolveAsync("globex", destination)).Failure!.Value.Status);
    }

    [Fact]
    public async Task A_stored_reference_with_an_old_path_like_name_is_never_sent_and_follows_the_window()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2025, 6, 1, 0, 0, 0, TimeSpan.Zero));
        var configuration = EgressTests.Configuration(new() { ["ServerlessOtlp:Storage:ConnectionString"] = "the platform's storage key" });
        var headers = new DestinationHeaders(new ConfigurationSecretResolver(configuration), migration: new SecretMigrationOptions { GraceUntil = time.GetUtcNow().AddDays(1) }, time: time);
        var destination = Destination("secret:ServerlessOtlp:Storage:ConnectionString");

        var during = (await headers.ResolveAsync("mallory", destination)).Failure!.Value;
        Assert.Equal(ExportStatus.Transient, during.Status);
        Assert.Contains("re-apply the tenant file", during.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("storage key", during.Message, StringComparison.Ordinal);

        time.Advance(TimeSpan.FromDays(1));
        Assert.Equal(ExportStatus.Permanent, (await headers.ResolveAsync("mallory", destination)).Failure!.Value.Status);
    }

    [Fact]
    public async Task A_configured_end_date_closes_the_window_for_every_process_alike()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2025, 6, 1, 0, 0, 0, TimeSpan.Zero));
        var options = SecretMigrationOptions.FromConfiguration(EgressTests.Configuration(new() { ["ServerlessOtlp:SecretMigration:GraceUntil"] = "2025-05-31T00:00:00Z" }));
        var headers = new DestinationHeaders(new ConfigurationSecretResolver(EgressTests.Configuration(new())), migration: options, time: time);

        Assert.Equal(ExportStatus.Permanent, (await headers.ResolveAsync("acme", Destination("secret:tempo-token"))).Failure!.Value.Status);
        Assert.Equal(TimeSpan.Zero, SecretMigrationOptions.FromConfiguration(EgressTests.Configuration(new() { ["ServerlessOtlp:SecretMigration:GracePeriod"] = "00:00:00" })).GracePeriod);
        Assert.Throws<InvalidOperationException>(() => SecretMigrationOptions.FromConfiguration(EgressTests.Configuration(new() { ["ServerlessOtlp:SecretMigration:GraceUntil"] = "next week" })));
    }

    [Fact]
    public async Task A_secret_store_that_does_not_answer_is_retryable_even_after_the_window()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2025, 6, 1, 0, 0, 0, TimeSpan.Zero));
        var vault = new KeyVaultDouble { Unavailable = true };
        var unreachable = new KeyVaultSecretResolver(EgressTests.Configuration(new()), vault.Client());
        var headers = new DestinationHeaders(unreachable, migration: new SecretMigrationOptions { GracePeriod = TimeSpan.Zero }, time: time);

        var outcome = (await headers.ResolveAsync("acme", Destination("secret:tempo-token"))).Failure!.Value;

        Assert.Equal(ExportStatus.Transient, outcome.Status);
        Assert.Contains("Key Vault did not answer", outcome.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_exporter_sends_the_tenants_own_secret_and_another_tenant_with_the_same_reference_gets_nothing()
    {
        await using var backend = await CapturingHttpReceiver.StartAsync();
        var configuration = EgressTests.Configuration(new()
        {
            [AcmeToken] = "Bearer acme",
            ["ServerlessOtlp:Secrets:token"] = "Bearer shared",
        });
        var headers = new DestinationHeaders(new ConfigurationSecretResolver(configuration), TestEgress.Loopback.Policy, new SecretMigrationOptions { GracePeriod = TimeSpan.Zero });
        var exporter = new OtlpHttpExporter(TestEgress.With(TestEgress.Loopback, headers));
        var secretHeaders = new Dictionary<string, string> { ["Authorization"] = "secret:token" };

        var acme = await exporter.ExportAsync(EgressTests.Request("otlphttp", "acme", backend.Uri.ToString(), secretHeaders));
        var globex = await exporter.ExportAsync(EgressTests.Request("otlphttp", "globex", backend.Uri.ToString(), secretHeaders));

        Assert.Equal(ExportStatus.Success, acme.Status);
        Assert.Equal(ExportStatus.Permanent, globex.Status);
        Assert.Equal("Bearer acme", Assert.Single(backend.Requests).Headers["Authorization"]);
    }

    [Fact]
    public async Task Migrate_copies_each_tenants_name_into_its_own_namespace_and_a_dry_run_changes_nothing()
    {
        var vault = new KeyVaultDouble();
        vault.Secrets["tempo-token"] = "shared before namespaces";
        vault.Secrets["loki-token"] = "acme's loki";
        vault.Secrets[TenantNamespace.SecretName("globex", "prom-token")] = "already there";
        var tenants = new[]
        {
            Tenant("acme", ("tempo", "secret:tempo-token"), ("loki", "secret:loki-token"), ("loki2", "secret:loki-token")),
            Tenant("globex", ("tempo", "secret:tempo-token"), ("prom", "secret:prom-token"), ("gone", "secret:missing")),
        };
        var secretVault = new KeyVaultSecretVault(vault.Client());

        var plan = await SecretMigration.RunAsync(tenants, secretVault, dryRun: true);

        Assert.Equal(
            [
                ("acme", "tempo-token", SecretMigrationAction.WouldCopy),
                ("acme", "loki-token", SecretMigrationAction.WouldCopy),
                ("globex", "tempo-token", SecretMigrationAction.WouldCopy),
                ("globex", "prom-token", SecretMigrationAction.AlreadyMigrated),
                ("globex", "missing", SecretMigrationAction.SourceMissing),
            ],
            plan.Select(i => (i.Tenant, i.Name, i.Action)));
        Assert.Empty(vault.Written);
        Assert.Equal(["loki.headers.Authorization", "loki2.headers.Authorization"], plan[1].UsedBy);
        Assert.Equal(["globex"], plan[0].AlsoReferencedBy);
        Assert.Empty(plan[1].AlsoReferencedBy);

        var done = await SecretMigration.RunAsync(tenants, secretVault, dryRun: false);

        Assert.Equal([SecretMigrationAction.Copied, SecretMigrationAction.Copied, SecretMigrationAction.Copied, SecretMigrationAction.AlreadyMigrated, SecretMigrationAction.SourceMissing], done.Select(i => i.Action));
        Assert.Equal("shared before namespaces", vault.Secrets[TenantNamespace.SecretName("acme", "tempo-token")]);
        Assert.Equal("shared before namespaces", vault.Secrets[TenantNamespace.SecretName("globex", "tempo-token")]);
        Assert.Equal("acme's loki", vault.Secrets[TenantNamespace.SecretName("acme", "loki-token")]);
        Assert.False(vault.Secrets.ContainsKey(TenantNamespace.SecretName("globex", "loki-token")));

        // After migrating, the new resolver finds exactly these.
        var resolver = new KeyVaultSecretResolver(EgressTests.Configuration(new()), vault.Client());
        Assert.Equal("acme's loki", await resolver.ResolveAsync("acme", "loki-token"));
        Assert.Null(await resolver.ResolveAsync("globex", "loki-token"));

        // A second run has nothing left to copy.
        Assert.DoesNotContain((await SecretMigration.RunAsync(tenants, secretVault, dryRun: false)), i => i.Action == SecretMigrationAction.Copied);
    }

    [Fact]
    public async Task Migrate_never_copies_a_namespaced_or_invalid_source_name()
    {
        var vault = new KeyVaultDouble();
        string acmes = TenantNamespace.SecretName("acme", "token");
        vault.Secrets[acmes] = "acme's token";
        vault.Secrets["ServerlessOtlp--Storage"] = "platform";
        var tenants = new[] { Tenant("mallory", ("steal", "secret:" + acmes), ("old", "secret:ServerlessOtlp:Storage")) };

        var items = await SecretMigration.RunAsync(tenants, new KeyVaultSecretVault(vault.Client()), dryRun: false);

        Assert.Equal([SecretMigrationAction.NamespacedSource, SecretMigrationAction.InvalidName], items.Select(i => i.Action));
        Assert.All(items, i => Assert.True(i.Failed));
        Assert.Empty(vault.Written);
    }

    [Fact]
    public async Task Migrate_without_a_vault_lists_each_tenants_setting()
    {
        var items = await SecretMigration.RunAsync([Tenant("acme", ("tempo", "secret:token")), Tenant("Acme", ("tempo", "secret:token"))], vault: null, dryRun: false);

        Assert.Equal([SecretMigrationAction.SetSetting, SecretMigrationAction.SetSetting], items.Select(i => i.Action));
        Assert.Equal([ConfigurationSecretResolver.KeyOf("acme", "token"), ConfigurationSecretResolver.KeyOf("Acme", "token")], items.Select(i => i.Setting));
        Assert.NotEqual(items[0].Setting, items[1].Setting, StringComparer.OrdinalIgnoreCase);
    }

    private static DestinationConfig Destination(string authorization) => new()
    {
        Name = "tempo",
        Kind = OtlpHttpDestination.KindName,
        Endpoint = "https://tempo.example.com",
        Headers = new Dictionary<string, string> { ["Authorization"] = authorization },
    };

    private static TenantConfig Tenant(string id, params (string Destination, string Authorization)[] destinations) => new()
    {
        Id = id,
        Destinations = [.. destinations.Select(d => Destination(d.Authorization) with { Name = d.Destination })],
    };
}
