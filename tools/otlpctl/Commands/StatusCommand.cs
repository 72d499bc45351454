using System.CommandLine;
using ServerlessOtlp.Cli.Connection;
using ServerlessOtlp.Cli.Terminal;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace ServerlessOtlp.Cli.Commands;

/// <summary><c>otlpctl status [--watch]</c>: partitions, tenant replay cursors, nodes, the retry store and dead letters, from storage.</summary>
public static class StatusCommand
{
    private static readonly TimeSpan WatchInterval = TimeSpan.FromSeconds(2);

    public static Command Create()
    {
        var command = new Command("status", "Where each partition stands (end, checkpoint, lag, lease), tenant replay cursors, the nodes, the retry store per destination, dead letters per tenant");
        var watch = new Option<bool>("--watch") { Description = "Refresh every 2 seconds until Ctrl+C" };
        command.Options.Add(watch);
        var selection = new StorageSelection().AddTo(command, withLog: true);
        command.SetAction(async (parse, _) =>
        {
            using var shutdown = new ShutdownSignal();
            var ct = shutdown.Token;
            await using var connection = await ProcessingConnection.OpenAsync(selection, parse, ct);
            if (!parse.GetValue(watch))
            {
                Output.Write(await RenderAsync(connection, ct));
                return ExitCodes.Ok;
            }

            try
            {
                if (Output.Interactive)
                {
                    await AnsiConsole.Live(await RenderAsync(connection, ct)).StartAsync(async live =>
                    {
                        while (true)
                        {
                            await Task.Delay(WatchInterval, ct);
                            live.UpdateTarget(await RenderAsync(connection, ct));
                        }
                    });
                }
                else
                {
                    while (true)
                    {
                        Output.Write(await RenderAsync(connection, ct));
                        await Task.Delay(WatchInterval, ct);
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    public static async Task<IRenderable> RenderAsync(ProcessingConnection connection, CancellationToken ct)
    {
        var services = connection.Services;
        var dispatcher = services.CreateDispatcher(new InProcessDrainJobs());
        var partitions = await dispatcher.GetStatusAsync(ct);
        var cursors = await dispatcher.GetReplayCursorsAsync(ct);
        var nodes = await services.Nodes.ListAsync(cancellationToken: ct);
        var deadLetters = await services.DeadLetters.ListAsync(cancellationToken: ct);

        var partitionTable = new Table().Title($"log {Markup.Escape(connection.Log.Name)}")
            .AddColumns("partition", "end", "checkpoint", "lag", "lease owner", "lease expires");
        foreach (var p in partitions)
        {
            partitionTable.AddRow(
                p.Partition.ToString(),
                p.End.ToString(),
                p.Checkpoint.IsStart ? "start" : p.Checkpoint.ToString(),
                p.Lag.ToString("N0"),
                Markup.Escape(p.LeaseOwner ?? "-"),
                p.LeaseExpiresAt is { } e ? $"in {Output.Age(e - DateTimeOffset.UtcNow)}" : "-");
        }

        partitionTable.AddRow("[bold]total[/]", "", "", $"[bold]{partitions.Sum(p => p.Lag):N0}[/]", "", "");

        var nodeTable = new Table().Title("nodes").AddColumns("role", "id", "status", "last seen");
        foreach (var n in nodes.OrderBy(n => n.Role, StringComparer.Ordinal).ThenBy(n => n.Id, StringComparer.Ordinal))
        {
            string status = n.Status switch
            {
                "alive" => "[green]alive[/]",
                "dead" => "[red]dead[/]",
                "suspect" => "[yellow]suspect[/]",
                _ => Markup.Escape(n.Status),
            };
            nodeTable.AddRow(Markup.Escape(n.Role), Markup.Escape(n.Id), status, $"{Output.Age(n.Age)} ago");
        }

        var deadTable = new Table().Title("dead letters").AddColumns("tenant", "count");
        foreach (var group in deadLetters.GroupBy(d => d.Tenant, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            deadTable.AddRow(Markup.Escape(group.Key), group.Count().ToString("N0"));
        }

        if (deadLetters.Count == 0)
        {
            deadTable.AddRow("[grey](none)[/]", "0");
        }

        var retryTable = RetryTable(await services.RetryStore.GetStatsAsync(ct));

        if (cursors.Count == 0)
        {
            return new Rows(partitionTable, nodeTable, retryTable, deadTable);
        }

        // Tenant replays (otlpctl replay --tenant): each re-delivers one tenant's data up to its end.
        var cursorTable = new Table().Title("replay cursors")
            .AddColumns("tenant", "partition", "position", "end", "lag", "state", "lease owner", "started by");
        foreach (var c in cursors)
        {
            var cursor = c.Cursor;
            cursorTable.AddRow(
                Markup.Escape(cursor.Tenant),
                cursor.Partition.ToString(),
                cursor.Position == Checkpoint.StartOfLog ? "start" : cursor.Position.ToString(),
                cursor.End == Checkpoint.StartOfLog ? "start" : cursor.End.ToString(),
                c.Lag.ToString("N0"),
                cursor.IsDone ? "[green]done[/]" : "[yellow]active[/]",
                Markup.Escape(c.LeaseOwner ?? "-"),
                $"{Markup.Escape(cursor.CreatedBy)}, {Output.Age(DateTimeOffset.UtcNow - cursor.CreatedAt)} ago");
        }

        return new Rows(partitionTable, cursorTable, nodeTable, retryTable, deadTable);
    }

    /// <summary>Batches a destination could not take yet, parked until it answers again.</summary>
    private static Table RetryTable(IReadOnlyList<ServerlessOtlp.Export.RetryBacklog> backlog)
    {
        var table = new Table().Title("retry store").AddColumns("tenant", "destination", "batches", "bytes", "oldest");
        foreach (var b in backlog.OrderBy(b => b.Tenant, StringComparer.Ordinal).ThenBy(b => b.Destination, StringComparer.Ordinal))
        {
            table.AddRow(Markup.Escape(b.Tenant), Markup.Escape(b.Destination), b.Count.ToString("N0"), b.Bytes.ToString("N0"), Output.Age(b.OldestAge));
        }

        if (backlog.Count == 0)
        {
            table.AddRow("[grey](empty)[/]", "", "0", "0", "-");
        }

        return table;
    }
}
