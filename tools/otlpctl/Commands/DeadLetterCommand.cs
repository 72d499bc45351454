using System.CommandLine;
using System.Text;
using ServerlessOtlp.Cli.Connection;
using ServerlessOtlp.Cli.Terminal;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Json;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Tenants;
using Spectre.Console;

namespace ServerlessOtlp.Cli.Commands;

/// <summary><c>otlpctl deadletter list | show ID | redrive [--tenant T] [--destination D]</c>.</summary>
public static class DeadLetterCommand
{
    // How much of a body `show` prints when it cannot be decoded.
    private const int ShowBytes = 256;

    // Id of the "gateway" in the properties of a redriven event.
    private const string RedriveSource = "otlpctl-redrive";

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
            var result = await RedriveAsync(connection.Services, parse.GetValue(tenant), parse.GetValue(destination), ct);
            Output.Info($"Redrive: {result.Delivered} delivered and removed, {result.Failed} dead-lettered again, {result.Retry} to retry later (kept), {result.Skipped} skipped.");
            return result.Failed + result.Retry > 0 ? ExitCodes.Failure : ExitCodes.Ok;
        });

        command.Subcommands.Add(list);
        command.Subcommands.Add(show);
        command.Subcommands.Add(redrive);
        return command;
    }

    public sealed record RedriveResult(int Delivered, int Failed, int Retry, int Skipped);

    /// <summary>
    /// Re-processes each matching dead letter through the tenant pipeline. A letter that names a
    /// destination goes to that destination only (the others had it already). It is deleted when
    /// delivered; when it fails again the pipeline writes a new dead letter and the old one is
    /// deleted too (the new one carries the new reason); a transient failure keeps it.
    /// </summary>
    public static async Task<RedriveResult> RedriveAsync(ProcessingServices services, string? tenant, string? destination, CancellationToken ct)
    {
        int delivered = 0, failed = 0, retry = 0, skipped = 0;
        foreach (var letter in await services.DeadLetters.ListAsync(tenant, ct))
        {
            if (destination != null && letter.Destination != destination)
            {
                continue;
            }

            if (!SignalNames.TryParse(letter.Signal, out var signal))
            {
                Output.Warn($"{letter.Id}: no signal recorded, cannot be redriven");
                skipped++;
                continue;
            }

            if (letter.Destination is { } named && await services.Tenants.GetAsync(letter.Tenant, ct) is { } config && config.Destinations.All(d => d.Name != named))
            {
                Output.Warn($"{letter.Id}: tenant {letter.Tenant} has no destination \"{named}\" any more; kept");
                skipped++;
                continue;
            }

            var found = await services.DeadLetters.GetAsync(letter.Id, ct);
            if (found is null)
            {
                continue;
            }

            var body = found.Value.Body.ToMemory();
            var properties = new EventProperties(letter.Tenant, signal, BodyCodec.Protobuf, 0, letter.At, RedriveSource);
            var readEvent = new ReadEvent(new LogPosition(letter.Position), new LogPosition(letter.Position + 1), properties, body);
            var processor = letter.Destination is { } only
                ? services.CreateProcessor(new OneDestinationDirectory(services.Tenants, only))
                : services.Processor;
            var fate = await processor.ProcessAsync(letter.Partition, readEvent, ct);
            switch (fate)
            {
                case EventFate.Delivered:
                    await services.DeadLetters.DeleteAsync(letter.Id, ct);
                    delivered++;
                    break;
                case EventFate.DeadLettered:
                    // The pipeline wrote it again with the current reason: keep only that one.
                    await services.DeadLetters.DeleteAsync(letter.Id, ct);
                    failed++;
                    break;
                default:
                    retry++;
                    break;
            }
        }

        return new RedriveResult(delivered, failed, retry, skipped);
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

    /// <summary>The tenants, each narrowed to one destination.</summary>
    private sealed class OneDestinationDirectory(ITenantDirectory inner, string destination) : ITenantDirectory
    {
        public async ValueTask<TenantConfig?> AuthenticateAsync(string apiKey, CancellationToken cancellationToken = default) =>
            Narrow(await inner.AuthenticateAsync(apiKey, cancellationToken));

        public async ValueTask<TenantConfig?> GetAsync(string tenantId, CancellationToken cancellationToken = default) =>
            Narrow(await inner.GetAsync(tenantId, cancellationToken));

        private TenantConfig? Narrow(TenantConfig? config) =>
            config is null ? null : config with { Destinations = config.Destinations.Where(d => d.Name == destination).ToList() };
    }
}
