using System.CommandLine;
using ServerlessOtlp.Cli.Connection;
using ServerlessOtlp.Cli.Terminal;
using ServerlessOtlp.Tenants;
using Spectre.Console;

namespace ServerlessOtlp.Cli.Commands;

/// <summary><c>otlpctl tenants apply -f FILE | list [--output table|json] | add ID | rotate-key ID | remove ID [--yes|--dry-run] | migrate-keys [--dry-run] | schema</c>.</summary>
internal static class TenantsCommand
{
    public static Command Create()
    {
        var command = new Command("tenants", "Manage tenants and their API keys");

        var apply = new Command("apply", "Create or update the tenants of a tenant file (CONTRACTS.md, \"Tenant file\")");
        var file = new Option<FileInfo>("--file", "-f") { Description = "The tenant file (JSON)", Required = true };
        apply.Options.Add(file);
        var applyStorage = new StorageSelection().AddTo(apply, withLog: false);
        apply.SetAction(async (parse, ct) =>
        {
            var tenantFile = Parse(parse.GetValue(file)!, StorageSelection.TenantFileRulesFor(StorageSelection.IsDevelopmentStorage(applyStorage.StorageOptionsFrom(parse))));
            var store = await OpenAsync(applyStorage, parse, ct);
            var result = await store.ApplyAsync(tenantFile, ct);
            foreach (var t in result.Tenants)
            {
                Output.Info($"{(t.Created ? "created" : "updated")} tenant [bold]{Markup.Escape(t.Id)}[/] (version {t.Version}; keys +{t.KeysAdded} -{t.KeysRemoved})");
            }

            Output.Info("[grey]Gateways and drains see the change within their cache TTL (10 s).[/]");
            return ExitCodes.Ok;
        });

        var list = new Command("list", "List tenants: id, version, keys, destinations");
        var listOutput = OutputFormat.CreateOption();
        list.Options.Add(listOutput);
        var listStorage = new StorageSelection().AddTo(list, withLog: false);
        list.SetAction(async (parse, ct) =>
        {
            var store = await OpenAsync(listStorage, parse, ct);
            var tenants = await store.ListAsync(ct);
            if (parse.IsJson(listOutput))
            {
                Output.Json(w =>
                {
                    w.WriteStartArray();
                    foreach (var t in tenants)
                    {
                        w.WriteStartObject();
                        w.WriteString("id", t.Id);
                        w.WriteNumber("version", t.Version);
                        w.WriteNumber("keys", t.KeyCount);
                        w.WriteNumber("destinations", t.DestinationCount);
                        if (t.UpdatedAt is { } updated)
                        {
                            w.WriteString("updatedAt", updated);
                        }
                        else
                        {
                            w.WriteNull("updatedAt");
                        }

                        w.WriteEndObject();
                    }

                    w.WriteEndArray();
                });
                return ExitCodes.Ok;
            }

            if (tenants.Count == 0)
            {
                Output.Info("No tenants. Add one with `otlpctl tenants add ID` or `otlpctl tenants apply -f FILE`.");
                return ExitCodes.Ok;
            }

            var table = new Table().AddColumns("id", "version", "keys", "destinations", "updated");
            foreach (var t in tenants)
            {
                table.AddRow(Markup.Escape(t.Id), t.Version.ToString(), t.KeyCount.ToString(), t.DestinationCount.ToString(), t.UpdatedAt?.ToString("u") ?? "");
            }

            Output.Write(table);
            return ExitCodes.Ok;
        });

        var add = new Command("add", "Create a tenant with a new API key (printed once)");
        var addId = new Argument<string>("ID");
        add.Arguments.Add(addId);
        var addStorage = new StorageSelection().AddTo(add, withLog: false);
        add.SetAction(async (parse, ct) =>
        {
            string id = CheckId(parse.GetValue(addId)!);
            var store = await OpenAsync(addStorage, parse, ct);
            string key;
            try
            {
                key = await store.AddAsync(id, ct);
            }
            catch (InvalidOperationException ex)
            {
                throw new CliException(ex.Message, ExitCodes.Usage, ex);
            }

            PrintKey(id, key, "created");
            return ExitCodes.Ok;
        });

        var rotate = new Command("rotate-key", "Give a tenant a new API key (printed once); its other keys stop working");
        var rotateId = new Argument<string>("ID");
        rotate.Arguments.Add(rotateId);
        var rotateStorage = new StorageSelection().AddTo(rotate, withLog: false);
        rotate.SetAction(async (parse, ct) =>
        {
            string id = CheckId(parse.GetValue(rotateId)!);
            var store = await OpenAsync(rotateStorage, parse, ct);
            string key;
            try
            {
                key = await store.RotateKeyAsync(id, ct);
            }
            catch (KeyNotFoundException ex)
            {
                throw new CliException($"{ex.Message}; `otlpctl tenants list` shows the tenants", ExitCodes.Usage, ex);
            }

            PrintKey(id, key, "rotated the key of");
            Output.Info("[grey]The old keys are refused once the gateways' cache expires (10 s).[/]");
            return ExitCodes.Ok;
        });

        var remove = new Command("remove", "Delete a tenant and its keys (asks first; --yes in scripts)");
        var removeId = new Argument<string>("ID");
        remove.Arguments.Add(removeId);
        var removeConfirm = new Confirmation().AddTo(remove);
        var removeStorage = new StorageSelection().AddTo(remove, withLog: false);
        remove.SetAction(async (parse, ct) =>
        {
            string id = CheckId(parse.GetValue(removeId)!);
            var store = await OpenAsync(removeStorage, parse, ct);
            var tenant = (await store.ListAsync(ct)).FirstOrDefault(t => t.Id == id)
                         ?? throw new CliException($"no tenant \"{id}\"; `otlpctl tenants list` shows the tenants", ExitCodes.Usage);
            string what = $"remove tenant {id} (version {tenant.Version}, {tenant.KeyCount} key(s), {tenant.DestinationCount} destination(s)); its keys stop working";
            if (removeConfirm.IsDryRun(parse))
            {
                Output.Info($"Dry run: would {Markup.Escape(what)}. Nothing was changed.");
                return ExitCodes.Ok;
            }

            removeConfirm.Require(parse, char.ToUpperInvariant(what[0]) + what[1..]);
            if (!await store.RemoveAsync(id, ct))
            {
                throw new CliException($"no tenant \"{id}\"; `otlpctl tenants list` shows the tenants", ExitCodes.Usage);
            }

            Output.Info($"removed tenant [bold]{Markup.Escape(id)}[/]");
            return ExitCodes.Ok;
        });

        var migrate = new Command("migrate-keys", "Re-digest key rows stored without a pepper under the current pepper (ServerlessOtlp__Tenants__KeyPeppers__N); keys keep working throughout");
        var dryRun = new Option<bool>("--dry-run") { Description = "Say how many rows would be migrated, change nothing" };
        migrate.Options.Add(dryRun);
        var migrateStorage = new StorageSelection().AddTo(migrate, withLog: false);
        migrate.SetAction(async (parse, ct) =>
        {
            var store = await OpenAsync(migrateStorage, parse, ct);
            if (store.Keys.CurrentVersion == ApiKeyHasher.Unpeppered)
            {
                throw new CliException("no key pepper is configured: set ServerlessOtlp__Tenants__KeyPeppers__1 (base64, 32 bytes or more) as the gateway has it", ExitCodes.Usage);
            }

            bool dry = parse.GetValue(dryRun);
            int rows = await store.MigrateKeysAsync(dry, ct);
            Output.Info(dry
                ? $"{rows} unpeppered key row(s) would be re-digested under pepper {store.Keys.CurrentVersion}; nothing changed"
                : $"{rows} unpeppered key row(s) re-digested under pepper {store.Keys.CurrentVersion}. Once every gateway has the pepper, set ServerlessOtlp__Tenants__AcceptUnpepperedKeys=false.");
            return ExitCodes.Ok;
        });

        var schema = new Command("schema", "Print the tenant file's JSON Schema (schemas/tenant-file.schema.json); name it in a file's \"$schema\" for editor completion");
        schema.SetAction(_ =>
        {
            Console.Out.Write(TenantFileSchema.Generate());
            return ExitCodes.Ok;
        });

        command.Subcommands.Add(apply);
        command.Subcommands.Add(list);
        command.Subcommands.Add(add);
        command.Subcommands.Add(rotate);
        command.Subcommands.Add(remove);
        command.Subcommands.Add(migrate);
        command.Subcommands.Add(schema);
        return command;
    }

    /// <summary>Parses and validates a tenant file under the deployment's <paramref name="rules"/>; on errors prints each as <c>file:line: path: message</c> (exit 2).</summary>
    public static TenantFile Parse(FileInfo file, TenantFileRules rules)
    {
        if (!file.Exists)
        {
            throw new CliException($"tenant file {file.FullName} does not exist", ExitCodes.Usage);
        }

        var warnings = new List<TenantConfigError>();
        var parsed = TenantFileParser.ParseFile(file.ToString(), rules: rules, warnings: warnings);
        foreach (var warning in warnings)
        {
            // Accepted, but worth knowing (e.g. an agent config's OTTL function this project does not check).
            Console.Error.WriteLine("warning: " + warning);
        }

        return parsed;
    }

    internal static async Task<TenantStore> OpenAsync(StorageSelection selection, ParseResult parse, CancellationToken cancellationToken)
    {
        var storage = selection.CreateStorage(parse);
        var store = StorageSelection.CreateTenantStore(storage);
        await store.EnsureCreatedAsync(cancellationToken);
        return store;
    }

    private static string CheckId(string id) =>
        TenantIds.IsValid(id) ? id : throw new CliException($"\"{id}\" is not a valid tenant id", ExitCodes.Usage);

    /// <summary>The key alone on stdout (<c>key=$(otlpctl tenants add acme)</c>); the words around it on stderr.</summary>
    private static void PrintKey(string id, string key, string what)
    {
        Output.Info($"{what} tenant [bold]{Markup.Escape(id)}[/]. Its API key (shown only now; keep it safe):");
        Output.Plain(key);
    }
}
