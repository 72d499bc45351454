using System.CommandLine;
using System.Text;
using ServerlessOtlp.Cli.Connection;
using ServerlessOtlp.Cli.Terminal;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Json;
using ServerlessOtlp.Processing;
using Spectre.Console;

namespace ServerlessOtlp.Cli.Commands;

/// <summary><c>otlpctl deadletter list | show ID | redrive [--tenant T] [--destination D]</c>.</summary>
public static class DeadLetterCommand
{
    // How much of a body `show` prints when it cannot be decoded.
    private const int ShowBytes = 256;

    public static Command Create()
    {
        var command = new Command("deadletter", "List, inspect and redrive dead letters (events that could not be delivered)");

        var list = new Command("list", "List dead letters");
        var listTenant = new Option<string?>("--tenant") { Description = "Only this tenant's" };
        list.Options.Add(listTenant);
        var listSelection = new StorageSelection().AddTo(list, withLog: true);
        list.SetAction(async (parse, ct) =>
        {
            await using var connection = await ProcessingConnection.OpenAsync(listSelection, parse, ct);
            var letters = await connection.Services.DeadLetters.ListAsync(parse.GetValue(listTenant), ct);
            if (letters.Count == 0)
            {
                Output.Info("No dead letters.");
                return ExitCodes.Ok;
            }

            var table = new Table().AddColumns("id", "tenant", "destination", "signal", "partition", "position", "at", "bytes", "reason");
            foreach (var d in letters.OrderBy(d => d.At))
            {
                table.AddRow(Markup.Escape(d.Id), Markup.Escape(d.Tenant), Markup.Escape(d.Destination ?? "-"), Markup.Escape(d.Signal ?? "-"),
                    d.Partition.ToString(), d.Position.ToString(), d.At.ToString("u"), d.Bytes.ToString("N0"), Markup.Escape(d.Reason));
            }

            Output.Write(table);
            return ExitCodes.Ok;
        });

        var show = new Command("show", "Show a dead letter: its metadata and its data (as OTLP/JSON when it decodes)");
        var showId = new Argument<string>("ID");
        show.Arguments.Add(showId);
        var showSelection = new StorageSelection().AddTo(show, withLog: true);
        show.SetAction(async (parse, ct) =>
        {
            string id = parse.GetValue(showId)!;
            await using var connection = await ProcessingConnection.OpenAsync(showSelection, parse, ct);
            var found = await connection.Services.DeadLetters.GetAsync(id, ct)
                        ?? throw new CliException($"no dead letter \"{id}\"; `otlpctl deadletter list` shows the ids", ExitCodes.Usage);
            var (d, body) = found;
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

        var redrive = new Command("redrive", "Process dead letters again; the ones delivered now are deleted");
        var tenant = new Option<string?>("--tenant") { Description = "Only this tenant's dead letters" };
        var destination = new Option<string?>("--destination") { Description = "Only dead letters of this destination" };
        redrive.Options.Add(tenant);
        redrive.Options.Add(destination);
        var redriveSelection = new StorageSelection().AddTo(redrive, withLog: true);
        redrive.SetAction(async (parse, ct) =>
        {
            await using var connection = await ProcessingConnection.OpenAsync(redriveSelection, parse, ct);
            var result = await new DeadLetterRedrive(connection.Services).RedriveAsync(parse.GetValue(tenant), parse.GetValue(destination), ct);
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

    private static string Describe(DeadLetter d, ReadOnlyMemory<byte> body)
    {
        if (SignalNames.TryParse(d.Signal, out var signal))
        {
            try
            {
                return Encoding.UTF8.GetString(OtlpJson.ProtobufToJson(signal, body.Span));
            }
            catch (Exception ex) when (ex is Google.Protobuf.InvalidProtocolBufferException or FormatException or InvalidOperationException)
            {
                // Not decodable (that is often why it is here): show the bytes.
            }
        }

        var head = body.Span[..Math.Min(ShowBytes, body.Length)];
        return $"first {head.Length} of {body.Length} bytes:\n{Convert.ToHexString(head)}";
    }
}
