using System.CommandLine;
using System.Globalization;
using ServerlessOtlp.Cli.Connection;
using ServerlessOtlp.Cli.Terminal;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;
using Spectre.Console;

namespace ServerlessOtlp.Cli.Commands;

/// <summary><c>otlpctl replay --partition P|--all (--from TIME | --position N) [--tenant T] [--yes|--dry-run] [--output table|json]</c>; <c>--all</c> asks first.</summary>
internal static class ReplayCommand
{
    public static Command Create()
    {
        var command = new Command(
            "replay",
            "Move partition checkpoints back (or forward) to a time or a position; the drains re-deliver every tenant's data from there. " +
            "With --tenant, the checkpoints stay: a replay cursor per partition re-delivers only that tenant's data, up to where the live drain stood (see `otlpctl status`)");
        var partition = new Option<int?>("--partition") { Description = "The partition to move" };
        var all = new Option<bool>("--all") { Description = "Move every partition" };
        var from = new Option<string?>("--from") { Description = "A time (ISO 8601, e.g. 2025-01-31T10:00:00Z) or an age (e.g. 15m, 2h): replay what was received since" };
        var position = new Option<long?>("--position") { Description = "A log position (see `otlpctl status`)" };
        var tenant = new Option<string?>("--tenant") { Description = "Re-deliver only this tenant's data, up to the live checkpoint, through a separate replay cursor; other tenants and the checkpoints are untouched" };
        command.Options.Add(partition);
        command.Options.Add(all);
        command.Options.Add(from);
        command.Options.Add(position);
        command.Options.Add(tenant);
        var confirm = new Confirmation().AddTo(command);
        var output = OutputFormat.CreateOption();
        command.Options.Add(output);
        var selection = new StorageSelection().AddTo(command, withLog: true);
        command.SetAction(async (parse, ct) =>
        {
            int? p = parse.GetValue(partition);
            bool everything = parse.GetValue(all);
            string? fromText = parse.GetValue(from);
            long? pos = parse.GetValue(position);
            if (p is null == !everything)
            {
                throw new CliException("give either --partition P or --all", ExitCodes.Usage);
            }

            if (fromText is null == pos is null)
            {
                throw new CliException("give either --from TIME or --position N", ExitCodes.Usage);
            }

            string? tenantId = parse.GetValue(tenant);
            if (tenantId != null && TenantIds.Check(tenantId) is { } problem)
            {
                throw new CliException($"--tenant: tenant id {problem}", ExitCodes.Usage);
            }

            DateTimeOffset? time = fromText is null ? null : ParseTime(fromText);
            await using var connection = await ProcessingConnection.OpenAsync(selection, parse, ct);
            int count = connection.Log.PartitionCount;
            if (p is int one && (one < 0 || one >= count))
            {
                throw new CliException($"--partition {one}: the log has partitions 0-{count - 1}", ExitCodes.Usage);
            }

            string by = $"{Environment.UserName}@{Environment.MachineName}";
            List<int> parts = p is int only ? [only] : [.. Enumerable.Range(0, count)];
            if (tenantId != null)
            {
                await ValidateTenantAsync(connection, tenantId, ct);
            }

            if (confirm.IsDryRun(parse))
            {
                return await PlanAsync(connection, tenantId, parts, time, pos, parse.IsJson(output), ct);
            }

            if (everything)
            {
                confirm.Require(parse, tenantId is null
                    ? $"Move the checkpoints of all {count} partitions of {connection.Log.Name}; every tenant's data from there is delivered again"
                    : $"Start replay cursors on all {count} partitions for tenant {tenantId}; its data from there is delivered again");
            }

            if (tenantId != null)
            {
                return await StartCursorsAsync(connection, tenantId, parts, time, pos, by, parse.IsJson(output), ct);
            }

            var moved = new Results(("partition", "partition"), ("from", "from"), ("to", "to"), ("replays", "replays"));
            foreach (int part in parts)
            {
                var audit = await connection.Services.ReplayAsync(part, time, pos, by, ct);
                moved.Add(part, audit.From, audit.To, audit.Count);
            }

            moved.Print(parse.IsJson(output));
            Output.Info($"Checkpoints moved by {Markup.Escape(by)}; running drains pick the new position up on their next checkpoint (they are fenced).");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static async Task ValidateTenantAsync(ProcessingConnection connection, string tenant, CancellationToken ct)
    {
        try
        {
            await new TenantReplay(connection.Services).ValidateAsync(tenant, ct);
        }
        catch (ArgumentException ex)
        {
            throw new CliException($"--tenant {tenant}: {ex.Message}", ExitCodes.Usage);
        }
    }

    /// <summary>--dry-run: where each checkpoint stands and where it would go; nothing moves.</summary>
    private static async Task<int> PlanAsync(ProcessingConnection connection, string? tenant, IReadOnlyList<int> partitions, DateTimeOffset? time, long? position, bool json, CancellationToken ct)
    {
        var plan = new Results(("partition", "partition"), ("checkpoint now", "checkpoint"), ("replay from", "replayFrom"));
        foreach (int part in partitions)
        {
            var (now, to) = await connection.Services.PlanReplayAsync(part, time, position, ct);
            plan.Add(part, now, to);
        }

        plan.Print(json);
        Output.Info(tenant is null
            ? "Dry run: nothing was changed. Without --dry-run the checkpoints move to \"replay from\"."
            : $"Dry run: nothing was changed. Without --dry-run replay cursors re-deliver {Markup.Escape(tenant)}'s data from \"replay from\" up to the checkpoint.");
        return ExitCodes.Ok;
    }

    private static async Task<int> StartCursorsAsync(ProcessingConnection connection, string tenant, IEnumerable<int> partitions, DateTimeOffset? time, long? position, string by, bool json, CancellationToken ct)
    {
        var replay = new TenantReplay(connection.Services);
        var started = new Results(("partition", "partition"), ("tenant", "tenant"), ("from", "from"), ("to (live checkpoint)", "to"), ("state", "state"));
        foreach (int part in partitions)
        {
            var cursor = await replay.StartAsync(tenant, part, time, position, by, ct);
            started.Add(part, tenant, cursor.Start, cursor.End, cursor.State);
        }

        started.Print(json);
        Output.Info($"Replay cursors started by {Markup.Escape(by)}; the drains re-deliver {Markup.Escape(tenant)}'s data in the background. Follow them with `otlpctl status`.");
        return ExitCodes.Ok;
    }

    /// <summary>An ISO time, or an age such as <c>15m</c> meaning that long ago.</summary>
    public static DateTimeOffset ParseTime(string text)
    {
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time))
        {
            return time;
        }

        if (ConfigDuration.TryParse(text, out var age))
        {
            return DateTimeOffset.UtcNow - age;
        }

        throw new CliException($"--from \"{text}\": expected a time (2025-01-31T10:00:00Z) or an age (15m, 2h)", ExitCodes.Usage);
    }

    /// <summary>
    /// What a replay did or would do, one row per partition: a table (positions as "start" for the log's
    /// start), or with --output json an array of objects (positions as numbers, -1 the start).
    /// </summary>
    private sealed class Results(params (string Header, string Json)[] columns)
    {
        private readonly List<object[]> _rows = [];

        public void Add(params object[] row) => _rows.Add(row);

        public void Print(bool json)
        {
            if (json)
            {
                Output.Json(w =>
                {
                    w.WriteStartArray();
                    foreach (var row in _rows)
                    {
                        w.WriteStartObject();
                        for (int i = 0; i < columns.Length; i++)
                        {
                            switch (row[i])
                            {
                                case int n:
                                    w.WriteNumber(columns[i].Json, n);
                                    break;
                                case long n:
                                    w.WriteNumber(columns[i].Json, n);
                                    break;
                                default:
                                    w.WriteString(columns[i].Json, row[i].ToString());
                                    break;
                            }
                        }

                        w.WriteEndObject();
                    }

                    w.WriteEndArray();
                });
                return;
            }

            var table = new Table().AddColumns([.. columns.Select(c => c.Header)]);
            foreach (var row in _rows)
            {
                table.AddRow([.. row.Select(v => Markup.Escape(v switch
                {
                    long position when position == Checkpoint.StartOfLog => "start",
                    IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                    _ => v.ToString() ?? "",
                }))]);
            }

            Output.Write(table);
        }
    }
}
