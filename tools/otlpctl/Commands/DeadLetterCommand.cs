using System.CommandLine;
using System.Text;
using System.Text.Json;
using ServerlessOtlp.Cli.Connection;
using ServerlessOtlp.Cli.Terminal;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Json;
using ServerlessOtlp.Processing;
using Spectre.Console;

namespace ServerlessOtlp.Cli.Commands;

/// <summary><c>otlpctl deadletter list [--output table|json] | show ID [--output table|json] | redrive [--tenant T] [--destination D] [--yes|--dry-run]</c>.</summary>
internal static class DeadLetterCommand
{
    // How much of a body `show` prints when it cannot be decoded.
    private const int ShowBytes = 256;

    public static Command Create()
    {
        var command = new Command("deadletter", "List, inspect and redrive dead letters (events that could not be delivered)");

        var list = new Command("list", "List dead letters");
        var listTenant = new Option<string?>("--tenant") { Description = "Only this tenant's" };
        var listOutput = OutputFormat.CreateOption();
        list.Options.Add(listTenant);
        list.Options.Add(listOutput);
        var listSelection = new StorageSelection().AddTo(list, withLog: true);
        list.SetAction(async (parse, ct) =>
        {
            await using var connection = await ProcessingConnection.OpenAsync(listSelection, parse, ct);
            var letters = (await connection.Services.DeadLetters.ListAsync(parse.GetValue(listTenant), ct)).OrderBy(d => d.At).ToList();
            if (parse.IsJson(listOutput))
            {
                Output.Json(w =>
                {
                    w.WriteStartArray();
                    foreach (var d in letters)
                    {
                        WriteLetter(w, d);
                    }

                    w.WriteEndArray();
                });
                return ExitCodes.Ok;
            }

            if (letters.Count == 0)
            {
                Output.Info("No dead letters.");
                return ExitCodes.Ok;
            }

            var table = new Table().AddColumns("id", "tenant", "destination", "signal", "partition", "position", "at", "bytes", "reason");
            foreach (var d in letters)
            {
                table.AddRow(Markup.Escape(d.Id), Markup.Escape(d.Tenant), Markup.Escape(d.Destination ?? "-"), Markup.Escape(d.Signal ?? "-"),
                    d.Partition.ToString(), d.Position.ToString(), d.At.ToString("u"), d.Bytes.ToString("N0"), Markup.Escape(d.Reason));
            }

            Output.Write(table);
            return ExitCodes.Ok;
        });

        var show = new Command("show", "Show a dead letter: its metadata and its data (as OTLP/JSON when it decodes)");
        var showId = new Argument<string>("ID");
        var showOutput = OutputFormat.CreateOption();
        show.Arguments.Add(showId);
        show.Options.Add(showOutput);
        var showSelection = new StorageSelection().AddTo(show, withLog: true);
        show.SetAction(async (parse, ct) =>
        {
            string id = parse.GetValue(showId)!;
            await using var connection = await ProcessingConnection.OpenAsync(showSelection, parse, ct);
            var found = await connection.Services.DeadLetters.GetAsync(id, ct)
                        ?? throw new CliException($"no dead letter \"{id}\"; `otlpctl deadletter list` shows the ids", ExitCodes.Usage);
            var (d, body) = found;
            if (parse.IsJson(showOutput))
            {
                // The metadata as in `list`, and the data: OTLP/JSON when it decodes, else base64 of the raw bytes.
                Output.Json(w =>
                {
                    WriteLetter(w, d, end: false);
                    if (Decode(d, body.ToMemory()) is { } json)
                    {
                        w.WritePropertyName("data");
                        using var doc = System.Text.Json.JsonDocument.Parse(json);
                        doc.RootElement.WriteTo(w);
                    }
                    else
                    {
                        w.WriteBase64String("dataBase64", body.ToMemory().Span);
                    }

                    w.WriteEndObject();
                });
                return ExitCodes.Ok;
            }

            var grid = new Grid().AddColumn().AddColumn();
            foreach (var (k, v) in new[]
                     {
                         ("id", d.Id), ("tenant", d.Tenant), ("destination", d.Destination ?? "-"), ("signal", d.Signal ?? "-"),
                         ("partition", d.Partition.ToString()), ("position", d.Position.ToString()), ("at", d.At.ToString("O")),
                         ("bytes", d.Bytes.ToString()), ("reason", d.Reason),
                     })
            {
                grid.AddRow($"[bold]{k}[/]", Markup.Escape(v));
            }

            Output.Write(grid);
            Output.Plain(Describe(d, body.ToMemory()));
            return ExitCodes.Ok;
        });

        var redrive = new Command("redrive", "Process dead letters again; the ones delivered now are deleted (asks first; --yes in scripts)");
        var tenant = new Option<string?>("--tenant") { Description = "Only this tenant's dead letters" };
        var destination = new Option<string?>("--destination") { Description = "Only dead letters of this destination" };
        redrive.Options.Add(tenant);
        redrive.Options.Add(destination);
        var confirm = new Confirmation().AddTo(redrive);
        var redriveSelection = new StorageSelection().AddTo(redrive, withLog: true);
        redrive.SetAction(async (parse, ct) =>
        {
            await using var connection = await ProcessingConnection.OpenAsync(redriveSelection, parse, ct);
            string? onlyDestination = parse.GetValue(destination);
            var letters = (await connection.Services.DeadLetters.ListAsync(parse.GetValue(tenant), ct))
                .Where(d => onlyDestination is null || d.Destination == onlyDestination).ToList();
            if (letters.Count == 0)
            {
                Output.Info("No dead letters to redrive.");
                return ExitCodes.Ok;
            }

            string what = $"redrive {letters.Count} dead letter(s) ({letters.Sum(d => d.Bytes):N0} bytes) of " +
                          string.Join(", ", letters.GroupBy(d => d.Tenant, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key}: {g.Count()}"));
            if (confirm.IsDryRun(parse))
            {
                foreach (var d in letters.OrderBy(d => d.At))
                {
                    Output.Plain($"{d.Id}\t{d.Tenant}\t{d.Destination ?? "-"}\t{d.Signal ?? "-"}\t{d.Bytes}");
                }

                Output.Info($"Dry run: would {Markup.Escape(what)}. Nothing was changed.");
                return ExitCodes.Ok;
            }

            confirm.Require(parse, char.ToUpperInvariant(what[0]) + what[1..]);
            var result = await new DeadLetterRedrive(connection.Services).RedriveAsync(parse.GetValue(tenant), onlyDestination, ct);
            foreach (string reason in result.SkipReasons)
            {
                Output.Warn(reason);
            }

            Output.Info($"Redrive: {result.Delivered} delivered and removed, {result.Failed} dead-lettered again, {result.Retry} to retry later (kept), {result.Skipped} skipped.");
            return result.Failed + result.Retry > 0 ? ExitCodes.Failure : ExitCodes.Ok;
        });

        command.Subcommands.Add(list);
        command.Subcommands.Add(show);
        command.Subcommands.Add(redrive);
        return command;
    }

    /// <summary>A dead letter's metadata (CONTRACTS.md, "otlpctl": <c>deadletter list --output json</c>).</summary>
    private static void WriteLetter(Utf8JsonWriter w, DeadLetter d, bool end = true)
    {
        w.WriteStartObject();
        w.WriteString("id", d.Id);
        w.WriteString("tenant", d.Tenant);
        w.WriteString("destination", d.Destination);
        w.WriteString("signal", d.Signal);
        w.WriteNumber("partition", d.Partition);
        w.WriteNumber("position", d.Position);
        w.WriteString("at", d.At);
        w.WriteNumber("bytes", d.Bytes);
        w.WriteString("reason", d.Reason);
        if (end)
        {
            w.WriteEndObject();
        }
    }

    /// <summary>The body as OTLP/JSON, or null when it does not decode (that is often why it is here).</summary>
    private static byte[]? Decode(DeadLetter d, ReadOnlyMemory<byte> body)
    {
        if (SignalNames.TryParse(d.Signal, out var signal))
        {
            try
            {
                return OtlpJson.ProtobufToJson(signal, body.Span);
            }
            catch (Exception ex) when (ex is Google.Protobuf.InvalidProtocolBufferException or FormatException or InvalidOperationException)
            {
            }
        }

        return null;
    }

    private static string Describe(DeadLetter d, ReadOnlyMemory<byte> body)
    {
        if (Decode(d, body) is { } json)
        {
            return Encoding.UTF8.GetString(json);
        }

        var head = body.Span[..Math.Min(ShowBytes, body.Length)];
        return $"first {head.Length} of {body.Length} bytes:\n{Convert.ToHexString(head)}";
    }
}
