using System.CommandLine;
using System.Text.Json;
using Azure.Identity;
using Azure.Security.KeyVault.Secrets;
using Microsoft.Extensions.Configuration;
using ServerlessOtlp.Cli.Connection;
using ServerlessOtlp.Cli.Terminal;
using ServerlessOtlp.Export.Secrets;
using ServerlessOtlp.Tenants;
using Spectre.Console;

namespace ServerlessOtlp.Cli.Commands;

/// <summary>
/// <c>otlpctl secrets name --tenant T NAME</c> (where a tenant's secret lives) and
/// <c>otlpctl secrets migrate [--dry-run] [--tenant T]</c> (stored references into the tenants' namespaces).
/// </summary>
internal static class SecretsCommand
{
    public static Command Create()
    {
        var command = new Command("secrets", "Tenant secrets: where secret:NAME resolves, and moving stored references into the tenants' namespaces");
        command.Subcommands.Add(CreateName());
        command.Subcommands.Add(CreateMigrate());
        return command;
    }

    private static Command CreateName()
    {
        var name = new Command("name", "Print where a tenant's secret:NAME resolves: its Key Vault secret name and its setting");
        var tenant = new Option<string>("--tenant") { Description = "The tenant id (case-sensitive)", Required = true };
        var secret = new Argument<string>("NAME") { Description = "The NAME of secret:NAME" };
        var output = OutputFormat.CreateOption();
        name.Options.Add(tenant);
        name.Options.Add(output);
        name.Arguments.Add(secret);
        name.SetAction(parse =>
        {
            string id = parse.GetValue(tenant)!;
            string value = parse.GetValue(secret)!;
            if (TenantIds.Check(id) is { } problem)
            {
                throw new CliException($"--tenant: tenant id {problem}", ExitCodes.Usage);
            }

            if (!SecretReference.IsValidName(value))
            {
                throw new CliException($"NAME must be {SecretReference.NameExpected}", ExitCodes.Usage);
            }

            string keyVault = TenantNamespace.SecretName(id, value);
            string setting = ConfigurationSecretResolver.KeyOf(id, value);
            if (parse.GetValue(output) == "json")
            {
                Output.Json(w =>
                {
                    w.WriteStartObject();
                    w.WriteString("tenant", id);
                    w.WriteString("namespace", TenantNamespace.Of(id));
                    w.WriteString("keyVaultSecret", keyVault);
                    w.WriteString("setting", setting);
                    w.WriteString("environmentVariable", setting.Replace(":", "__", StringComparison.Ordinal));
                    w.WriteEndObject();
                });
                return ExitCodes.Ok;
            }

            var grid = new Grid().AddColumns(2);
            grid.AddRow("namespace", Markup.Escape(TenantNamespace.Of(id)));
            grid.AddRow("Key Vault secret", Markup.Escape(keyVault));
            grid.AddRow("setting", Markup.Escape(setting));
            grid.AddRow("environment variable", Markup.Escape(setting.Replace(":", "__", StringComparison.Ordinal)));
            Output.Write(grid);
            return ExitCodes.Ok;
        });
        return name;
    }

    private static Command CreateMigrate()
    {
        var migrate = new Command("migrate", "Copy each stored tenant's Key Vault secret NAME to its namespaced name t-…--NAME (without a vault: list the settings to set)");
        var dryRun = new Option<bool>("--dry-run") { Description = "Print the plan only; change nothing" };
        var tenant = new Option<string?>("--tenant") { Description = "Only this tenant" };
        var vault = new Option<string?>("--key-vault") { Description = "Key Vault name or URI (default: ServerlessOtlp__KeyVault__Uri); reached with DefaultAzureCredential, needs get and set" };
        var output = OutputFormat.CreateOption();
        migrate.Options.Add(dryRun);
        migrate.Options.Add(tenant);
        migrate.Options.Add(vault);
        migrate.Options.Add(output);
        var storage = new StorageSelection().AddTo(migrate, withLog: false);
        migrate.SetAction(async (parse, ct) =>
        {
            string? only = parse.GetValue(tenant);
            if (only is not null && TenantIds.Check(only) is { } problem)
            {
                throw new CliException($"--tenant: tenant id {problem}", ExitCodes.Usage);
            }

            var secretVault = OpenVault(parse.GetValue(vault));
            var store = await TenantsCommand.OpenAsync(storage, parse, ct);
            var configs = new List<TenantConfig>();
            foreach (var summary in await store.ListAsync(ct))
            {
                if ((only is null || summary.Id == only) && await store.GetAsync(summary.Id, ct) is { } config)
                {
                    configs.Add(config);
                }
            }

            if (only is not null && configs.Count == 0)
            {
                throw new CliException($"no tenant \"{only}\"; `otlpctl tenants list` shows the tenants", ExitCodes.Usage);
            }

            bool dry = parse.GetValue(dryRun);
            var items = await SecretMigration.RunAsync(configs, secretVault, dry, ct);
            if (parse.GetValue(output) == "json")
            {
                Output.Json(w => WriteItems(w, items, dry));
            }
            else
            {
                PrintItems(items, dry, secretVault is not null);
            }

            return items.Any(i => i.Failed) ? ExitCodes.Failure : ExitCodes.Ok;
        });
        return migrate;
    }


    /// <summary>The vault named by the flag or by the deployment's setting; null for none (configuration-only).</summary>
    private static KeyVaultSecretVault? OpenVault(string? flag)
    {
        string? uri = string.IsNullOrWhiteSpace(flag)
            ? new ConfigurationBuilder().AddEnvironmentVariables().Build()[KeyVaultSecretResolver.UriKey]
            : flag.Contains("://", StringComparison.Ordinal) ? flag : $"https://{flag}.vault.azure.net/";
        if (string.IsNullOrWhiteSpace(uri))
        {
            return null;
        }

        if (!Uri.TryCreate(uri, UriKind.Absolute, out var vaultUri) || vaultUri.Scheme != Uri.UriSchemeHttps)
        {
            throw new CliException($"--key-vault: \"{uri}\" is not a vault name or https:// URI", ExitCodes.Usage);
        }

        return new KeyVaultSecretVault(new SecretClient(vaultUri, new DefaultAzureCredential()));
    }

    private static void PrintItems(IReadOnlyList<SecretMigrationItem> items, bool dryRun, bool vault)
    {
        if (items.Count == 0)
        {
            Output.Info("No stored tenant config references a secret.");
            return;
        }

        var table = new Table().AddColumns("tenant", "NAME", "used by", "namespaced name", "action");
        foreach (var item in items)
        {
            table.AddRow(
                Markup.Escape(item.Tenant),
                Markup.Escape(item.Name),
                Markup.Escape(string.Join(", ", item.UsedBy)),
                Markup.Escape(item.Target ?? "-"),
                Markup.Escape(Describe(item)));
        }

        Output.Write(table);
        if (!vault && items.Any(i => i.Action == SecretMigrationAction.SetSetting))
        {
            Output.Info("No Key Vault (--key-vault or ServerlessOtlp__KeyVault__Uri): set these settings where the Functions app runs, each to the value its NAME had (ServerlessOtlp__Secrets__NAME):");
            foreach (var item in items.Where(i => i.Action == SecretMigrationAction.SetSetting))
            {
                Output.Plain($"  {item.Setting!.Replace(":", "__", StringComparison.Ordinal)}    (tenant {item.Tenant}, was {item.Name})");
            }
        }

        foreach (var item in items.Where(i => i.AlsoReferencedBy.Count > 0))
        {
            Output.Warn($"tenant {item.Tenant}'s \"{item.Name}\" is also referenced by {string.Join(", ", item.AlsoReferencedBy)}: before namespaces they shared it; each gets its own copy — check that each should have it.");
        }

        if (dryRun)
        {
            Output.Info("[grey]Dry run: nothing was changed.[/]");
        }
    }

    private static string Describe(SecretMigrationItem item) => item.Action switch
    {
        SecretMigrationAction.Copied => "copied",
        SecretMigrationAction.WouldCopy => "would copy",
        SecretMigrationAction.AlreadyMigrated => "already migrated",
        SecretMigrationAction.SetSetting => "set the setting (below)",
        SecretMigrationAction.SourceMissing => $"not in the vault: set {item.Target} yourself",
        SecretMigrationAction.InvalidName => $"invalid NAME (must be {SecretReference.NameExpected}): fix the tenant file and re-apply",
        SecretMigrationAction.NamespacedSource => "refused: NAME is itself a namespaced name (another tenant's?)",
        _ => item.Action.ToString(),
    };

    private static void WriteItems(Utf8JsonWriter w, IReadOnlyList<SecretMigrationItem> items, bool dryRun)
    {
        w.WriteStartObject();
        w.WriteBoolean("dryRun", dryRun);
        w.WriteStartArray("items");
        foreach (var item in items)
        {
            w.WriteStartObject();
            w.WriteString("tenant", item.Tenant);
            w.WriteString("name", item.Name);
            w.WriteStartArray("usedBy");
            foreach (string use in item.UsedBy)
            {
                w.WriteStringValue(use);
            }

            w.WriteEndArray();
            w.WriteString("keyVaultSecret", item.Target);
            w.WriteString("setting", item.Setting);
            w.WriteString("environmentVariable", item.Setting?.Replace(":", "__", StringComparison.Ordinal));
            w.WriteString("action", JsonNamingPolicy.CamelCase.ConvertName(item.Action.ToString()));
            w.WriteStartArray("alsoReferencedBy");
            foreach (string other in item.AlsoReferencedBy)
            {
                w.WriteStringValue(other);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

}
