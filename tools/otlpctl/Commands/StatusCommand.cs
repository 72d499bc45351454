using System.CommandLine;
using ServerlessOtlp.Cli.Connection;
using ServerlessOtlp.Cli.Terminal;
using ServerlessOtlp.Performance;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using Spectre.Console;
using Spectre.Console.Rendering;
using System.Text.Json;

namespace ServerlessOtlp.Cli.Commands;

/// <summary><c>otlpctl status [--watch] [--output table|json]</c>: partitions, tenant replay cursors, nodes, the retry store and dead letters, from storage.</summary>
internal static class StatusCommand
{
    private static readonly TimeSpan WatchInterval = TimeSpan.FromSeconds(2);

    public static Command Create()
    {
        var command = new Command("status", "Where each partition stands (end, checkpoint, lag, lease), tenant replay cursors, the nodes, the retry store per destination, dead letters per tenant");
        var watch = new Option<bool>("--watch", "-w") { Description = "Refresh every 2 seconds until Ctrl+C (with --output json: one JSON document per line)" };
        var output = OutputFormat.CreateOption();
        command.Options.Add(watch);
        command.Options.Add(output);
        var selection = new StorageSelection().AddTo(command, withLog: true);
        command.SetAction(async (parse, _) =>
        {
            using var shutdown = new ShutdownSignal();
            var ct = shutdown.Token;
            bool json = parse.IsJson(output);
            await using var connection = await ProcessingConnection.OpenAsync(selection, parse, ct);
            if (!parse.GetValue(watch))
            {
                var snapshot = await Snapshot.TakeAsync(connection, ct);
                if (json)
                {
                    Output.Json(snapshot.WriteJson);
                }
                else
                {
                    Output.Write(snapshot.Render(connection.Log.Name));
                }

                return ExitCodes.Ok;
            }

            try
            {
                if (json)
                {
                    while (true)
                    {
                        Output.Json((await Snapshot.TakeAsync(connection, ct)).WriteJson, compact: true);
                        await Task.Delay(WatchInterval, ct);
                    }
                }

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
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
            }

            // --watch ends only when interrupted.
            return shutdown.ExitCode;
        });
        return command;
    }

    public static async Task<IRenderable> RenderAsync(ProcessingConnection connection, CancellationToken ct) =>
        (await Snapshot.TakeAsync(connection, ct)).Render(connection.Log.Name);

    /// <summary>Everything status shows, read once from storage.</summary>
    private sealed record Snapshot(
        IReadOnlyList<PartitionStatus> Partitions,
        IReadOnlyList<ReplayCursorStatus> Cursors,
        IReadOnlyList<NodeInfo> Nodes,
        IReadOnlyList<ServerlessOtlp.Export.RetryBacklog> RetryBacklog,
        IReadOnlyList<DeadLetter> DeadLetters,
        IReadOnlyDictionary<string, ComponentFigures> Components)
    {
        public static async Task<Snapshot> TakeAsync(ProcessingConnection connection, CancellationToken ct)
        {
            var services = connection.Services;
            var dispatcher = services.CreateDispatcher(new InProcessDrainJobs());
            var nodes = await services.Nodes.ListAsync(cancellationToken: ct);
            return new Snapshot(
                await dispatcher.GetStatusAsync(ct),
                await dispatcher.GetReplayCursorsAsync(ct),
                nodes,
                await services.RetryStore.GetStatsAsync(ct),
                await services.DeadLetters.ListAsync(cancellationToken: ct),
                DeploymentPerformance.MergeLive(nodes));
        }

        private static void WriteComponents(Utf8JsonWriter w, IReadOnlyDictionary<string, ComponentFigures> components)
        {
            w.WriteStartObject("components");
            foreach (var name in PerformanceComponents.All)
            {
                var c = components[name];
                w.WriteStartObject(name);
                w.WriteStartObject("latencyMs");
                w.WriteNumber("p50", Math.Round(c.P50Ms, 3));
                w.WriteNumber("p95", Math.Round(c.P95Ms, 3));
                w.WriteNumber("p99", Math.Round(c.P99Ms, 3));
                w.WriteEndObject();
                w.WriteStartObject("itemsPerSecond");
                w.WriteNumber("current", Math.Round(c.Current, 1));
                w.WriteNumber("average", Math.Round(c.Average, 1));
                w.WriteNumber("peak", Math.Round(c.Peak, 1));
                w.WriteEndObject();
                w.WriteNumber("errorRate", Math.Round(c.ErrorRate, 4));
                w.WriteNumber("operations", c.Operations);
                w.WriteEndObject();
            }

            w.WriteEndObject();
        }

        /// <summary>
        /// CONTRACTS.md, "otlpctl": <c>nodes</c> and <c>partitions</c> as named there, then what the
        /// tables show besides (replay cursors, retry store, dead letters per tenant).
        /// </summary>
        public void WriteJson(Utf8JsonWriter w)
        {
            w.WriteStartObject();
            WriteComponents(w, Components);
            w.WriteStartArray("nodes");
            foreach (var n in Nodes.OrderBy(n => n.Role, StringComparer.Ordinal).ThenBy(n => n.Id, StringComparer.Ordinal))
            {
                w.WriteStartObject();
                w.WriteString("id", n.Id);
                w.WriteString("role", n.Role);
                w.WriteString("state", n.Status);
                w.WriteString("lastHeartbeat", n.LastSeen);
                w.WriteNumber("ageSeconds", Math.Round(n.Age.TotalSeconds, 1));
                if (n.Counters.TryGetValue("avgResponseMicros", out long micros))
                {
                    // The node's own local work over its last 30 s (appends for a gateway, per-event work for a drain worker).
                    w.WriteNumber("avgResponseMs", Math.Round(micros / 1000.0, 3));
                }

                // What the node counts about itself (events, items, memory budget in use and its high-water mark, storage transactions …).
                w.WriteStartObject("counters");
                foreach (var (name, value) in n.Counters.OrderBy(c => c.Key, StringComparer.Ordinal))
                {
                    w.WriteNumber(name, value);
                }

                w.WriteEndObject();

                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("partitions");
            foreach (var p in Partitions)
            {
                w.WriteStartObject();
                w.WriteNumber("partition", p.Partition);
                w.WriteNumber("lag", p.Lag);
                w.WriteString("owner", p.LeaseOwner);
                w.WriteNumber("end", p.End.Value);
                w.WriteNumber("checkpoint", p.Checkpoint.Value);
                if (p.LeaseExpiresAt is { } expires)
                {
                    w.WriteString("leaseExpiresAt", expires);
                }
                else
                {
                    w.WriteNull("leaseExpiresAt");
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("replayCursors");
            foreach (var c in Cursors)
            {
                w.WriteStartObject();
                w.WriteString("tenant", c.Cursor.Tenant);
                w.WriteNumber("partition", c.Cursor.Partition);
                w.WriteNumber("position", c.Cursor.Position);
                w.WriteNumber("end", c.Cursor.End);
                w.WriteNumber("lag", c.Lag);
                w.WriteString("state", c.Cursor.IsDone ? "done" : "active");
                w.WriteString("owner", c.LeaseOwner);
                w.WriteString("createdBy", c.Cursor.CreatedBy);
                w.WriteString("createdAt", c.Cursor.CreatedAt);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("retryStore");
            foreach (var b in RetryBacklog.OrderBy(b => b.Tenant, StringComparer.Ordinal).ThenBy(b => b.Destination, StringComparer.Ordinal))
            {
                w.WriteStartObject();
                w.WriteString("tenant", b.Tenant);
                w.WriteString("destination", b.Destination);
                w.WriteNumber("batches", b.Count);
                w.WriteNumber("bytes", b.Bytes);
                w.WriteNumber("oldestAgeSeconds", Math.Round(b.OldestAge.TotalSeconds, 1));
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartObject("deadLetters");
            foreach (var group in DeadLetters.GroupBy(d => d.Tenant, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                w.WriteNumber(group.Key, group.Count());
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        public IRenderable Render(string logName)
        {
            var partitionTable = new Table().Title($"log {Markup.Escape(logName)}")
                .AddColumns("partition", "end", "checkpoint", "lag", "lease owner", "lease expires");
            foreach (var p in Partitions)
            {
                partitionTable.AddRow(
                    p.Partition.ToString(),
                    p.End.ToString(),
                    p.Checkpoint.IsStart ? "start" : p.Checkpoint.ToString(),
                    p.Lag.ToString("N0"),
                    Markup.Escape(p.LeaseOwner ?? "-"),
                    p.LeaseExpiresAt is { } e ? $"in {Output.Age(e - DateTimeOffset.UtcNow)}" : "-");
            }

            partitionTable.AddRow("[bold]total[/]", "", "", $"[bold]{Partitions.Sum(p => p.Lag):N0}[/]", "", "");

            var nodeTable = new Table().Title("nodes").AddColumns("role", "id", "status", "last seen");
            foreach (var n in Nodes.OrderBy(n => n.Role, StringComparer.Ordinal).ThenBy(n => n.Id, StringComparer.Ordinal))
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

            var performanceTable = new Table().Title("performance (live nodes merged: latency over the last minute, items/s current = last 10 s, peak = busiest 10 s of the hour)")
                .AddColumns("component", "p50 ms", "p95 ms", "p99 ms", "items/s now", "average", "peak", "errors");
            foreach (var name in PerformanceComponents.All)
            {
                var c = Components[name];
                performanceTable.AddRow(name, Ms(c.P50Ms), Ms(c.P95Ms), Ms(c.P99Ms), c.Current.ToString("N0"), c.Average.ToString("N0"), c.Peak.ToString("N0"), c.ErrorRate.ToString("P1"));
            }

            var deadTable = new Table().Title("dead letters").AddColumns("tenant", "count");
            foreach (var group in DeadLetters.GroupBy(d => d.Tenant, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                deadTable.AddRow(Markup.Escape(group.Key), group.Count().ToString("N0"));
            }

            if (DeadLetters.Count == 0)
            {
                deadTable.AddRow("[grey](none)[/]", "0");
            }

            var retryTable = RetryTable(RetryBacklog);
            if (Cursors.Count == 0)
            {
                return new Rows(performanceTable, partitionTable, nodeTable, retryTable, deadTable);
            }

            // Tenant replays (otlpctl replay --tenant): each re-delivers one tenant's data up to its end.
            var cursorTable = new Table().Title("replay cursors")
                .AddColumns("tenant", "partition", "position", "end", "lag", "state", "lease owner", "started by");
            foreach (var c in Cursors)
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

            return new Rows(performanceTable, partitionTable, cursorTable, nodeTable, retryTable, deadTable);
        }

        private static string Ms(double ms) => ms == 0 ? "-" : ms < 10 ? ms.ToString("0.00") : ms.ToString("N0");
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
