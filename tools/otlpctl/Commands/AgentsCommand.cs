using System.CommandLine;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using ServerlessOtlp.Agents;
using ServerlessOtlp.Cli.Connection;
using ServerlessOtlp.Cli.Terminal;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Storage;
using Spectre.Console;

namespace ServerlessOtlp.Cli.Commands;

/// <summary>
/// <c>otlpctl agents list [--tenant T] [--output table|json] | show UID [--tenant T] [--output table|json]</c>:
/// the OpAMP agents the gateways keep in the <c>agents</c> table, judged alive, suspect or dead by the same
/// thresholds as the gateway (<c>ServerlessOtlp__Gateway__OpAmp__SuspectAfter</c>, …). JSON keys are a contract (CONTRACTS.md).
/// </summary>
internal static class AgentsCommand
{
    public static Command Create()
    {
        var command = new Command("agents", "OpAMP agents: description, state (alive/suspect/dead), health, effective config, remote config status");

        var list = new Command("list", "List agents, optionally of one tenant");
        var tenant = new Option<string?>("--tenant") { Description = "Only this tenant's agents" };
        var output = OutputFormat.CreateOption();
        list.Options.Add(tenant);
        list.Options.Add(output);
        var listStorage = new StorageSelection().AddTo(list, withLog: false);
        list.SetAction(async (parse, ct) =>
        {
            var store = Open(listStorage, parse);
            var (agents, now) = await store.ListAsync(parse.GetValue(tenant), ct);
            var liveness = Liveness();
            var shown = agents.Where(a => !liveness.IsRemovable(a.LastSeen, now))
                .OrderBy(a => a.Tenant, StringComparer.Ordinal).ThenBy(a => a.InstanceUid, StringComparer.Ordinal).ToList();
            if (parse.GetValue(output) == "json")
            {
                Output.Json(w =>
                {
                    w.WriteStartArray();
                    foreach (var agent in shown)
                    {
                        WriteAgent(w, agent, liveness.Judge(agent.LastSeen, now, agent.Disconnected));
                    }

                    w.WriteEndArray();
                });
                return ExitCodes.Ok;
            }

            if (shown.Count == 0)
            {
                Output.Info("No agents. Point an OpAMP client or the Collector's OpAMP Supervisor at POST /v1/opamp with a tenant key (README, \"Agents (OpAMP)\").");
                return ExitCodes.Ok;
            }

            var table = new Table().AddColumns("instance uid", "tenant", "service.name", "state", "last seen", "healthy", "remote config");
            foreach (var a in shown)
            {
                table.AddRow(
                    a.InstanceUid,
                    Markup.Escape(a.Tenant),
                    Markup.Escape(a.IdentifyingAttributes.GetValueOrDefault("service.name") ?? ""),
                    StateMarkup(liveness.Judge(a.LastSeen, now, a.Disconnected)),
                    $"{Output.Age(now - a.LastSeen)} ago",
                    a.Healthy is { } h ? (h ? "yes" : "[red]no[/]") : "-",
                    Markup.Escape($"{a.OfferedConfigName ?? "-"} {a.RemoteConfigStatus}"));
            }

            Output.Write(table);
            return ExitCodes.Ok;
        });

        var show = new Command("show", "Everything stored about one agent");
        var uid = new Argument<string>("UID") { Description = "The instance UID: 32 hex digits or a UUID" };
        var showTenant = new Option<string?>("--tenant") { Description = "The agent's tenant (needed when two tenants have agents with this UID)" };
        var showOutput = OutputFormat.CreateOption();
        show.Arguments.Add(uid);
        show.Options.Add(showTenant);
        show.Options.Add(showOutput);
        var showStorage = new StorageSelection().AddTo(show, withLog: false);
        show.SetAction(async (parse, ct) =>
        {
            string hex = NormalizeUid(parse.GetValue(uid)!);
            var store = Open(showStorage, parse);
            var (all, now) = await store.ListAsync(parse.GetValue(showTenant), ct);
            var found = all.Where(a => a.InstanceUid == hex).ToList();
            if (found.Count == 0)
            {
                throw new CliException($"no agent {hex}{(parse.GetValue(showTenant) is { } t ? $" in tenant \"{t}\"" : "")}; `otlpctl agents list` shows the agents", ExitCodes.Failure);
            }

            if (found.Count > 1)
            {
                throw new CliException($"agents of {found.Count} tenants have UID {hex} ({string.Join(", ", found.Select(a => a.Tenant))}); choose one with --tenant", ExitCodes.Usage);
            }

            var agent = found[0];
            var liveness = Liveness();
            string state = liveness.Judge(agent.LastSeen, now, agent.Disconnected);
            if (parse.GetValue(showOutput) == "json")
            {
                Output.Json(w => WriteAgent(w, agent, state));
                return ExitCodes.Ok;
            }

            var grid = new Table().AddColumns("field", "value");
            void Row(string field, string? value) => grid.AddRow(field, Markup.Escape(value ?? ""));
            Row("instance uid", agent.InstanceUid);
            Row("tenant", agent.Tenant);
            grid.AddRow("state", StateMarkup(state));
            Row("first seen", agent.FirstSeen.ToString("O"));
            Row("last seen", $"{agent.LastSeen:O} ({Output.Age(now - agent.LastSeen)} ago)");
            foreach (var (k, v) in agent.IdentifyingAttributes.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                Row("identifying " + k, v);
            }

            foreach (var (k, v) in agent.NonIdentifyingAttributes.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                Row("non-identifying " + k, v);
            }

            Row("capabilities", $"0x{agent.Capabilities:x}");
            Row("healthy", agent.Healthy?.ToString() ?? "(not reported)");
            Row("health status", agent.HealthStatus);
            Row("health last error", agent.HealthLastError);
            Row("effective config hash", agent.EffectiveConfigHash);
            Row("remote config", agent.OfferedConfigName);
            Row("remote config hash", agent.RemoteConfigHash ?? agent.OfferedConfigHash);
            Row("remote config status", agent.RemoteConfigStatus);
            Row("remote config error", agent.RemoteConfigError);
            Output.Write(grid);
            return ExitCodes.Ok;
        });

        command.Subcommands.Add(list);
        command.Subcommands.Add(show);
        return command;
    }

    /// <summary>One agent in the contract's JSON shape (CONTRACTS.md, "agents list --output json").</summary>
    internal static void WriteAgent(Utf8JsonWriter w, AgentRecord agent, string state)
    {
        w.WriteStartObject();
        w.WriteString("instanceUid", agent.InstanceUid);
        w.WriteString("tenant", agent.Tenant);
        WriteMap(w, "identifyingAttributes", agent.IdentifyingAttributes);
        WriteMap(w, "nonIdentifyingAttributes", agent.NonIdentifyingAttributes);
        w.WriteString("state", state);
        w.WriteString("lastSeen", agent.LastSeen.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture));
        w.WriteStartObject("health");
        if (agent.Healthy is { } healthy)
        {
            w.WriteBoolean("healthy", healthy);
        }
        else
        {
            w.WriteNull("healthy"); // never reported
        }

        w.WriteString("status", agent.HealthStatus ?? "");
        w.WriteString("lastError", agent.HealthLastError ?? "");
        w.WriteEndObject();
        w.WriteString("effectiveConfigHash", agent.EffectiveConfigHash ?? "");
        w.WriteStartObject("remoteConfig");
        w.WriteString("name", agent.OfferedConfigName ?? "");
        w.WriteString("hash", agent.RemoteConfigHash ?? agent.OfferedConfigHash ?? "");
        w.WriteString("status", agent.RemoteConfigStatus);
        w.WriteString("errorMessage", agent.RemoteConfigError ?? "");
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteMap(Utf8JsonWriter w, string name, IReadOnlyDictionary<string, string> map)
    {
        w.WriteStartObject(name);
        foreach (var (k, v) in map.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            w.WriteString(k, v);
        }

        w.WriteEndObject();
    }



    private static AgentStore Open(StorageSelection selection, ParseResult parse)
    {
        var storage = selection.CreateStorage(parse);
        return new AgentStore(storage.Tables, storage.Names.Agents);
    }

    /// <summary>The gateway's thresholds, from the same settings (<c>ServerlessOtlp__Gateway__OpAmp__*</c>).</summary>
    private static AgentLivenessOptions Liveness()
    {
        var options = new AgentLivenessOptions();
        try
        {
            new ConfigurationBuilder().AddEnvironmentVariables().Build().GetSection("ServerlessOtlp:Gateway:OpAmp").Bind(options);
            options.Validate();
        }
        catch (InvalidOperationException ex)
        {
            throw new CliException("invalid ServerlessOtlp__Gateway__OpAmp__* setting: " + ex.Message, ExitCodes.Usage, ex);
        }

        return options;
    }

    private static string NormalizeUid(string text)
    {
        text = text.Trim();
        if (Guid.TryParse(text, out var guid) && text.Length != 32)
        {
            return Convert.ToHexStringLower(guid.ToByteArray(bigEndian: true));
        }

        if (text.Length == 32 && text.All(char.IsAsciiHexDigit))
        {
            return text.ToLowerInvariant();
        }

        throw new CliException($"\"{text}\" is not an instance UID (32 hex digits or a UUID)", ExitCodes.Usage);
    }

    private static string StateMarkup(string state) => state switch
    {
        AgentStates.Alive => "[green]alive[/]",
        AgentStates.Suspect => "[yellow]suspect[/]",
        _ => "[red]dead[/]",
    };
}
