using System.CommandLine;
using ServerlessOtlp.Cli.Load;
using ServerlessOtlp.Cli.Terminal;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tenants;
using Spectre.Console;

namespace ServerlessOtlp.Cli.Commands;

/// <summary>
/// <c>otlpctl load --endpoint URL --key KEY [--signal traces|metrics|logs] [--rate ITEMS_PER_S]
/// [--duration 20s] [--spans-per-request 100] [--connections 8] [--report FILE]</c>.
/// </summary>
internal static class LoadCommand
{
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan PlainProgressInterval = TimeSpan.FromSeconds(5);

    public static Command Create()
    {
        var command = new Command("load", "Generate OTLP/gRPC load and measure throughput and client-side latency");
        var endpoint = new Option<string?>("--endpoint") { Description = "The gateway's OTLP/gRPC endpoint, e.g. http://127.0.0.1:4317 (default: OTEL_EXPORTER_OTLP_ENDPOINT)" };
        var key = new Option<string?>("--key") { Description = "The tenant's API key, sent as x-api-key (default: x-api-key in OTEL_EXPORTER_OTLP_HEADERS, which keeps it off the command line)" };
        var signal = new Option<string>("--signal") { Description = "traces, metrics or logs", DefaultValueFactory = _ => "traces" };
        signal.AcceptOnlyFromAmong("traces", "metrics", "logs");
        var rate = new Option<double?>("--rate") { Description = "Items per second to send at (default: as fast as accepted)" };
        var duration = new Option<string>("--duration") { Description = "How long to send (e.g. 20s, 2m)", DefaultValueFactory = _ => "20s" };
        var perRequest = new Option<int>("--spans-per-request") { Description = "Items (spans, data points, log records) per export request", DefaultValueFactory = _ => 100 };
        var connections = new Option<int>("--connections") { Description = "HTTP/2 connections (each with a few exports in flight)", DefaultValueFactory = _ => 8 };
        var report = new Option<FileInfo?>("--report") { Description = "Write the results as JSON to this file" };
        var timeline = new Option<FileInfo?>("--timeline") { Description = "Write items accepted and refused per second as JSON to this file" };
        foreach (var option in new Option[] { endpoint, key, signal, rate, duration, perRequest, connections, report, timeline })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parse, _) =>
        {
            string endpointText = parse.GetValue(endpoint) ?? Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT")
                                  ?? throw new CliException("give --endpoint URL or set OTEL_EXPORTER_OTLP_ENDPOINT", ExitCodes.Usage);
            if (!Uri.TryCreate(endpointText, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            {
                throw new CliException("--endpoint (or OTEL_EXPORTER_OTLP_ENDPOINT) must be an http:// or https:// URL, e.g. http://127.0.0.1:4317", ExitCodes.Usage);
            }

            string apiKey = parse.GetValue(key) ?? ApiKeyFromHeaders(Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_HEADERS"))
                            ?? throw new CliException("give --key KEY or set OTEL_EXPORTER_OTLP_HEADERS=x-api-key=KEY", ExitCodes.Usage);

            if (!ConfigDuration.TryParse(parse.GetValue(duration), out var length) || length <= TimeSpan.Zero)
            {
                throw new CliException("--duration: " + ConfigDuration.Expected, ExitCodes.Usage);
            }

            if (parse.GetValue(rate) is <= 0)
            {
                throw new CliException("--rate must be positive (items per second)", ExitCodes.Usage);
            }

            if (parse.GetValue(perRequest) < 1 || parse.GetValue(connections) < 1)
            {
                throw new CliException("--spans-per-request and --connections must be at least 1", ExitCodes.Usage);
            }

            SignalNames.TryParse(parse.GetValue(signal), out var s);
            var settings = new LoadSettings(uri, apiKey, s, parse.GetValue(rate), length, parse.GetValue(perRequest), parse.GetValue(connections));
            using var shutdown = new ShutdownSignal();
            LoadReport result;
            try
            {
                result = await RunAsync(settings, shutdown.Token);
            }
            catch (OperationCanceledException) when (shutdown.Received is not null)
            {
                Output.Info("Interrupted before the first export; nothing was sent.");
                return ExitCodes.Interrupted;
            }

            Print(result, settings);
            if (parse.GetValue(timeline) is { } timelineFile)
            {
                timelineFile.Directory?.Create();
                await using var stream = timelineFile.Create();
                result.WriteTimelineJson(stream);
            }

            if (parse.GetValue(report) is { } file)
            {
                if (file.Directory is { Exists: false } dir)
                {
                    dir.Create();
                }

                await using (var stream = file.Create())
                {
                    result.WriteJson(stream);
                }

                Output.Info($"Report written to {Markup.Escape(file.FullName)}");
            }

            if (shutdown.Received is not null)
            {
                return ExitCodes.Interrupted; // the report covers what was sent until then
            }

            return result.Accepted > 0 ? ExitCodes.Ok : ExitCodes.Failure;
        });
        return command;
    }

    /// <summary>
    /// <c>x-api-key</c> from <c>OTEL_EXPORTER_OTLP_HEADERS</c> as the OpenTelemetry specification
    /// writes it: comma-separated <c>key=value</c> pairs, values percent-encoded, keys case-insensitive.
    /// </summary>
    public static string? ApiKeyFromHeaders(string? headers)
    {
        foreach (string pair in (headers ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0 && pair[..eq].Trim().Equals("x-api-key", StringComparison.OrdinalIgnoreCase))
            {
                string value = Uri.UnescapeDataString(pair[(eq + 1)..].Trim());
                return value.Length == 0 ? null : value;
            }
        }

        return null;
    }

    private static async Task<LoadReport> RunAsync(LoadSettings settings, CancellationToken ct)
    {
        var generator = new LoadGenerator(settings);
        Output.Info($"Sending {settings.Signal.ToName()} to {Markup.Escape(settings.Endpoint.ToString())} for {ConfigDuration.Format(settings.Duration)}: " +
                    $"{settings.ItemsPerRequest} items per request, {settings.Connections} connections × {settings.InFlightPerConnection} in flight, " +
                    (settings.Rate is double r ? $"{r:N0} items/s" : "as fast as accepted"));
        var run = generator.RunAsync(ct);
        if (Output.InteractiveMessages)
        {
            await Output.Messages.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .StartAsync(async ctx =>
                {
                    var task = ctx.AddTask("starting", maxValue: settings.Duration.TotalSeconds);
                    while (!run.IsCompleted)
                    {
                        await Task.WhenAny(run, Task.Delay(ProgressInterval, CancellationToken.None));
                        var p = generator.Progress;
                        task.Value = Math.Min(p.Elapsed.TotalSeconds, settings.Duration.TotalSeconds);
                        task.Description = $"{p.Accepted / Math.Max(0.001, p.Elapsed.TotalSeconds),12:N0} items/s, {p.Refused:N0} refused";
                    }

                    task.Value = task.MaxValue;
                });
        }
        else
        {
            while (!run.IsCompleted)
            {
                await Task.WhenAny(run, Task.Delay(PlainProgressInterval, CancellationToken.None));
                if (!run.IsCompleted)
                {
                    var p = generator.Progress;
                    Console.Error.WriteLine($"{p.Elapsed.TotalSeconds,5:N0}s accepted {p.Accepted:N0} items ({p.Accepted / Math.Max(0.001, p.Elapsed.TotalSeconds):N0}/s), refused {p.Refused:N0}");
                }
            }
        }

        try
        {
            return await run;
        }
        catch (Exception ex) when (ex is HttpRequestException or Grpc.Core.RpcException or IOException)
        {
            throw new CliException($"could not reach {settings.Endpoint}: {ex.Message}. Is the gateway running (`otlpctl dev`)?", ExitCodes.Failure, ex);
        }
    }

    private static void Print(LoadReport r, LoadSettings settings)
    {
        var table = new Table().AddColumns("", "value");
        table.AddRow("sent", $"{r.Sent:N0} items in {r.Requests:N0} requests");
        table.AddRow("accepted", $"{r.Accepted:N0} items");
        if (r.Rejected > 0)
        {
            table.AddRow("rejected (partial success)", $"{r.Rejected:N0} items");
        }

        foreach (var (code, n) in r.Refused.OrderBy(x => x.Key, StringComparer.Ordinal))
        {
            table.AddRow($"refused {Markup.Escape(code)}", $"{n:N0} items");
        }

        table.AddRow("throughput", $"{r.ItemsPerSecond:N0} items/s accepted over {r.Elapsed.TotalSeconds:N1} s" + (settings.Rate is double rate ? $" (target {rate:N0})" : ""));
        table.AddRow("latency p50 / p95 / p99 / max", $"{r.LatencyMs.P50:N1} / {r.LatencyMs.P95:N1} / {r.LatencyMs.P99:N1} / {r.LatencyMs.Max:N1} ms");
        Output.Write(table);
    }
}
