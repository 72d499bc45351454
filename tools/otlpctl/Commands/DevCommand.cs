using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using ServerlessOtlp.Cli.Azurite;
using ServerlessOtlp.Cli.Connection;
using ServerlessOtlp.Cli.Local;
using ServerlessOtlp.Cli.Terminal;
using ServerlessOtlp.Export;
using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Gateway;
using ServerlessOtlp.Gateway.Health;
using ServerlessOtlp.Gateway.Telemetry;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Log;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;
using Spectre.Console;

namespace ServerlessOtlp.Cli.Commands;

/// <summary>
/// <c>otlpctl dev</c>: the whole system on this machine — Azurite (started when none listens),
/// the tables, queues and containers, a tenant, the gateway and/or the local runner — in the
/// foreground until Ctrl+C or SIGTERM.
/// </summary>
internal static class DevCommand
{
    public static readonly string[] Roles = ["all", "gateway", "runner"];

    // How often the live line refreshes; plain (redirected) output prints less often.
    private static readonly TimeSpan LiveInterval = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan PlainInterval = TimeSpan.FromSeconds(10);

    // The gateway finishes in-flight requests within this on shutdown.
    private static readonly TimeSpan GatewayStopTimeout = TimeSpan.FromSeconds(15);

    public static Command Create()
    {
        var command = new Command("dev", "Run ServerlessOtlp locally: Azurite, a tenant, the gateway and the processing runner");
        var grpcPort = new Option<int>("--grpc-port") { Description = "OTLP/gRPC port", DefaultValueFactory = _ => 4317 };
        var httpPort = new Option<int>("--http-port") { Description = "OTLP/HTTP port (also serves /healthz and /readyz)", DefaultValueFactory = _ => 4318 };
        var managementPort = new Option<int>("--management-port") { Description = "Management port (/healthz, /readyz, /metrics); with --role runner, /metrics is served only when this is given", DefaultValueFactory = _ => 13133 };
        var dataDir = new Option<string>("--data-dir") { Description = "Where Azurite's data and the dev tenant's output files go", DefaultValueFactory = _ => ".otlp" };
        var tenants = new Option<FileInfo?>("--tenants") { Description = "A tenant file to apply (instead of seeding tenant dev)" };
        var role = new Option<string>("--role") { Description = "What to run: all, gateway or runner", DefaultValueFactory = _ => "all" };
        role.AcceptOnlyFromAmong(Roles);
        var defaults = new GatewayOptions();
        var flushDelay = new Option<string>("--flush-delay") { Description = "Gateway group-commit linger while other requests are in flight (e.g. 2ms; 0 = none)", DefaultValueFactory = _ => $"{defaults.FlushDelay.TotalMilliseconds}ms" };
        var flushBytes = new Option<int>("--flush-bytes") { Description = "Gateway: append a partition's batch at once when this many bytes wait", DefaultValueFactory = _ => defaults.FlushBytes };
        var inline = new Option<bool>("--inline-scheduling") { Description = "Gateway: process requests on the socket I/O threads (see InlineScheduling in README)" };
        var inFlight = new Option<long>("--in-flight-budget") { Description = "Gateway: bytes accepted but not yet durable; past it requests are refused as retryable (UNAVAILABLE)", DefaultValueFactory = _ => defaults.InFlightBudgetBytes };
        command.Options.Add(grpcPort);
        command.Options.Add(httpPort);
        command.Options.Add(managementPort);
        command.Options.Add(dataDir);
        command.Options.Add(tenants);
        command.Options.Add(role);
        command.Options.Add(flushDelay);
        command.Options.Add(flushBytes);
        command.Options.Add(inFlight);
        command.Options.Add(inline);
        var storage = new StorageSelection().AddTo(command, withLog: true);

        command.SetAction(async (parse, _) =>
        {
            if (!ConfigDuration.TryParse(parse.GetValue(flushDelay), out var delay))
            {
                throw new CliException("--flush-delay: " + ConfigDuration.Expected, ExitCodes.Usage);
            }

            foreach (var (option, value) in new[] { (grpcPort, parse.GetValue(grpcPort)), (httpPort, parse.GetValue(httpPort)), (managementPort, parse.GetValue(managementPort)) })
            {
                if (value is < 1 or > 65535)
                {
                    throw new CliException($"{option.Name} {value}: a TCP port is 1-65535", ExitCodes.Usage);
                }
            }

            if (parse.GetValue(flushBytes) < 1 || parse.GetValue(inFlight) < 1)
            {
                throw new CliException("--flush-bytes and --in-flight-budget must be positive", ExitCodes.Usage);
            }

            var settings = new DevSettings(
                parse.GetValue(role)!,
                parse.GetValue(grpcPort),
                parse.GetValue(httpPort),
                parse.GetValue(managementPort),
                parse.GetValue(dataDir)!,
                parse.GetValue(tenants),
                delay,
                parse.GetValue(flushBytes),
                parse.GetValue(inFlight),
                parse.GetValue(inline),
                parse.GetResult(managementPort) is { Implicit: false });
            using var shutdown = new ShutdownSignal();
            return await RunAsync(settings, storage, parse, shutdown);
        });
        return command;
    }

    private static async Task<int> RunAsync(DevSettings settings, StorageSelection selection, ParseResult parse, ShutdownSignal shutdown)
    {
        var ct = shutdown.Token;
        bool gateway = settings.Role is "all" or "gateway";
        bool runner = settings.Role is "all" or "runner";
        string dataDir = Path.GetFullPath(settings.DataDir);
        Directory.CreateDirectory(dataDir);
        var logOptions = selection.LogOptionsFrom(parse);
        if (logOptions.Kind == "memory")
        {
            Output.Info(gateway && runner
                ? "[bold red on yellow] MEMORY LOG [/] [bold yellow]data is NOT durable and never trimmed (memory grows with everything sent): use --log memory for benchmarks only.[/]"
                : "[bold red on yellow] MEMORY LOG [/] [bold yellow]data is NOT durable and a runner in another process reads nothing: use --log memory for gateway benchmarks only.[/]");
        }

        if (gateway)
        {
            CheckPortsFree(settings);
        }

        // The tenant file is checked before anything starts, so a typo costs nothing.
        TenantFile? tenantFile = settings.TenantsFile is { } f ? TenantsCommand.Parse(f, StorageSelection.TenantFileRulesFor(local: true)) : null;

        await using var azurite = selection.IsExplicit(parse) ? null : await AzuriteLauncher.EnsureRunningAsync(dataDir, ct);
        using var loggers = StorageSelection.CreateLoggers();
        var storage = selection.CreateStorage(parse);
        Output.Info($"Storage: {Markup.Escape(storage.Description)}");

        var tenantStore = StorageSelection.CreateTenantStore(storage);
        await tenantStore.EnsureCreatedAsync(ct);
        var export = StorageSelection.ExportSettingsFromEnvironment(local: true);

        // With a file root (ServerlessOtlp__Export__FileRoot) the dev tenant writes under it, like any tenant.
        string devOutput = export.Files.Root is null ? Path.Combine(dataDir, "out") : DevTenant.RelativeOutput;
        string? printedKey = await SetUpTenantsAsync(tenantStore, tenantFile, devOutput, ct);

        await using var log = await selection.OpenLogAsync(parse, storage, loggers, ct, drainsInProcess: gateway && runner);
        Output.Info($"Log: {Markup.Escape(log.Name)} with {log.PartitionCount} partitions");
        var directory = new TenantDirectory(tenantStore);
        var services = await StorageSelection.CreateServicesAsync(log, storage, directory, loggers, local: true, ct);

        using var runnerStop = new CancellationTokenSource();
        // The failure detector's settings (ServerlessOtlp__Health__*), as the Functions app reads them.
        var health = new HealthOptions();
        new ConfigurationBuilder().AddEnvironmentVariables().Build().GetSection(HealthOptions.Section).Bind(health);
        if (health.Problem() is { } problem)
        {
            throw new CliException($"{HealthOptions.Section}: {problem}", ExitCodes.Usage);
        }
        LocalRunner? localRunner = runner ? new LocalRunner(services, new LocalRunnerOptions { Health = health }) : null;

        // Gateway and runner in one process: appends start drains at once, as the gateway's pushes do in Azure
        // (ServerlessOtlp__Gateway__PushDrainJobs=false leaves it to the runner's dispatch, every second).
        bool push = !string.Equals(Environment.GetEnvironmentVariable("ServerlessOtlp__Gateway__PushDrainJobs"), "false", StringComparison.OrdinalIgnoreCase);
        using var wakeup = push && gateway && localRunner != null
            ? new DrainWakeup(services.Leases, localRunner.Jobs, log.Name, services.Drain.ConsumerGroup, log.PartitionCount, services.Time, loggers.CreateLogger<DrainWakeup>())
            : null;
        WebApplication? app = null;
        GatewayMetrics? metrics = null;
        if (gateway)
        {
            var agents = new AgentStore(storage.Tables, storage.Names.Agents);
            await agents.EnsureCreatedAsync(ct);
            app = BuildGateway(settings, log, directory, services.Nodes, new LimitDemandStore(storage.Tables, storage.Names.Nodes), agents, wakeup);
            try
            {
                await app.StartAsync(ct);
            }
            catch (IOException ex)
            {
                throw new CliException($"could not listen: {ex.Message}. Another process uses one of ports {settings.GrpcPort}/{settings.HttpPort}/{settings.ManagementPort}: pick others with --grpc-port, --http-port, --management-port", ExitCodes.Failure, ex);
            }

            metrics = app.Services.GetRequiredService<GatewayMetrics>();
        }

        await using var runnerTelemetry = gateway ? null : await StartRunnerTelemetryAsync(settings, ct);
        Task runnerTask = localRunner?.RunAsync(runnerStop.Token) ?? Task.CompletedTask;

        try
        {
            if (app != null && !await WaitReadyAsync(app, ct))
            {
                return ExitCodes.Ok;
            }

            await PrintBannerAsync(settings, gateway, runner, tenantStore, new FileExporter(services.ExportSettings.Files), printedKey, ct);
            await LiveLineAsync(metrics, services, ct);
        }
        finally
        {
            Output.Info("[grey]Stopping…[/]");
            if (app != null)
            {
                // In-flight requests finish (and are appended) before the runner stops.
                using var stopTimeout = new CancellationTokenSource(GatewayStopTimeout);
                await app.StopAsync(stopTimeout.Token);
                await app.DisposeAsync();
            }

            await runnerStop.CancelAsync();
            await runnerTask;
            if (azurite?.Started == true)
            {
                Output.Info("[grey]Stopping Azurite…[/]");
            }
        }

        Output.Info("Stopped.");
        return ExitCodes.Ok;
    }

    private static void CheckPortsFree(DevSettings settings)
    {
        foreach (var (port, flag) in new[] { (settings.GrpcPort, "--grpc-port"), (settings.HttpPort, "--http-port"), (settings.ManagementPort, "--management-port") })
        {
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
            }
            catch (SocketException)
            {
                throw new CliException($"port {port} on 127.0.0.1 is in use (another otlpctl dev or collector?): stop it, or choose another port with {flag}");
            }
        }
    }

    /// <summary>Applies the tenant file, or seeds tenant dev; returns the key when it was created now.</summary>
    private static async Task<string?> SetUpTenantsAsync(TenantStore store, TenantFile? file, string devOutput, CancellationToken ct)
    {
        if (file != null)
        {
            var result = await store.ApplyAsync(file, ct);
            foreach (var t in result.Tenants)
            {
                Output.Info($"Tenant [bold]{Markup.Escape(t.Id)}[/]: {(t.Created ? "created" : "updated")} (version {t.Version})");
            }

            return null;
        }

        var dev = await DevTenant.EnsureAsync(store, devOutput, ct);
        if (dev.Created)
        {
            Output.Info("Created tenant [bold]dev[/]. Its API key, shown only now (keep it; `otlpctl tenants rotate-key dev` makes a new one):");
            Output.Plain(dev.Key!);
        }
        else if (!dev.Skipped)
        {
            Output.Info("Tenant [bold]dev[/] exists; its key was printed when it was created. Lost it? `otlpctl tenants rotate-key dev` prints a new one.");
        }
        else
        {
            Output.Info("Tenants exist already (`otlpctl tenants list`); tenant dev was not created.");
        }

        return dev.Key;
    }

    private static WebApplication BuildGateway(DevSettings settings, IPartitionedLog log, ITenantDirectory directory, NodeStore nodes, LimitDemandStore limitDemand, AgentStore agents, DrainWakeup? wakeup)
    {
        var options = new GatewayOptions
        {
            BindAddress = "127.0.0.1",
            GrpcPort = settings.GrpcPort,
            HttpPort = settings.HttpPort,
            ManagementPort = settings.ManagementPort,
            FlushDelay = settings.FlushDelay,
            FlushBytes = settings.FlushBytes,
            InFlightBudgetBytes = settings.InFlightBudgetBytes,
            InlineScheduling = settings.InlineScheduling,
        };
        // OpAMP settings (ServerlessOtlp__Gateway__OpAmp__*, ServerlessOtlp__Gateway__PublicUrl) as the container reads them.
        var environment = new ConfigurationBuilder().AddEnvironmentVariables().Build().GetSection(GatewayOptions.Section);
        environment.GetSection("OpAmp").Bind(options.OpAmp);
        options.PublicUrl = environment["PublicUrl"];
        return GatewayHost.Build(options, new GatewayDependencies(log, directory, nodes, limitDemand, agents, wakeup), [], builder =>
        {
            builder.Logging.ClearProviders();
            StorageSelection.AddConsoleLogging(builder.Logging);
            builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = GatewayStopTimeout);
        });
    }

    private static async Task<bool> WaitReadyAsync(WebApplication app, CancellationToken ct)
    {
        var readiness = app.Services.GetRequiredService<Readiness>();
        var warnAt = DateTime.UtcNow.AddSeconds(15);
        while (!readiness.IsReady)
        {
            if (DateTime.UtcNow > warnAt)
            {
                Output.Warn($"the gateway is not ready yet: {readiness.Reason}");
                warnAt = DateTime.UtcNow.AddSeconds(30);
            }

            try
            {
                await Task.Delay(100, ct);
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }

        return true;
    }

    private static async Task PrintBannerAsync(DevSettings settings, bool gateway, bool runner, TenantStore store, FileExporter files, string? key, CancellationToken ct)
    {
        Console.Error.WriteLine();
        if (gateway)
        {
            Output.Info($"[green]Ready.[/] OTLP/gRPC  http://127.0.0.1:{settings.GrpcPort}");
            Output.Info($"       OTLP/HTTP  http://127.0.0.1:{settings.HttpPort}/v1/traces | /v1/metrics | /v1/logs");
            Output.Info($"       OpAMP      http://127.0.0.1:{settings.HttpPort}/v1/opamp (agents: `otlpctl agents list`)");
            Output.Info($"       health     http://127.0.0.1:{settings.HttpPort}/readyz, metrics http://127.0.0.1:{settings.ManagementPort}/metrics");
            Console.Error.WriteLine();
            Output.Info("Point an OpenTelemetry SDK here with:");
            Output.Plain($"  OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:{settings.GrpcPort}");
            Output.Plain("  OTEL_EXPORTER_OTLP_PROTOCOL=grpc");
            Output.Plain($"  OTEL_EXPORTER_OTLP_HEADERS=x-api-key={key ?? "<your key>"}");
        }
        else
        {
            Output.Info("[green]Ready.[/] Runner only: draining the log; the gateway runs elsewhere (`otlpctl dev --role gateway`).");
            if (settings.ManagementPortGiven)
            {
                Output.Info($"       metrics    http://127.0.0.1:{settings.ManagementPort}/metrics");
            }
        }

        if (runner)
        {
            foreach (var tenant in await store.ListAsync(ct))
            {
                var config = await store.GetAsync(tenant.Id, ct);
                foreach (var d in config?.Destinations ?? [])
                {
                    if (d.Kind == FileDestination.KindName)
                    {
                        var (dir, refusal) = files.DirectoryFor(tenant.Id, FileDestination.SettingsOf(d).Path);
                        Output.Info(dir is not null
                            ? $"Tenant [bold]{Markup.Escape(tenant.Id)}[/] writes to {Markup.Escape(dir)} (traces.jsonl, metrics.jsonl, logs.jsonl)"
                            : $"Tenant [bold]{Markup.Escape(tenant.Id)}[/]: file destination {Markup.Escape(d.Name)} is refused: {Markup.Escape(refusal ?? "")}");
                    }
                }
            }
        }

        Output.Info("[grey]Ctrl+C stops.[/]");
        Console.Error.WriteLine();
    }

    /// <summary>items/s in and out, lag and dead letters, refreshed until <paramref name="ct"/> fires.</summary>
    private static async Task LiveLineAsync(GatewayMetrics? metrics, ProcessingServices services, CancellationToken ct)
    {
        var dispatcher = services.CreateDispatcher(new InProcessDrainJobs());
        long lastIn = metrics?.AcceptedTotal ?? 0, lastOut = services.Engine.ItemsTotal;
        var lastAt = DateTime.UtcNow;

        async Task<string> SampleAsync()
        {
            var now = DateTime.UtcNow;
            double seconds = Math.Max(0.001, (now - lastAt).TotalSeconds);
            long inTotal = metrics?.AcceptedTotal ?? 0, outTotal = services.Engine.ItemsTotal;
            double inRate = (inTotal - lastIn) / seconds, outRate = (outTotal - lastOut) / seconds;
            (lastIn, lastOut, lastAt) = (inTotal, outTotal, now);
            string lag, dead;
            try
            {
                lag = (await dispatcher.GetStatusAsync(ct)).Sum(s => s.Lag).ToString("N0");
                dead = (await services.DeadLetters.ListAsync(cancellationToken: ct)).Count.ToString("N0");
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                lag = dead = "?";
            }

            return $"in {inRate,10:N0} items/s | out {outRate,10:N0} items/s | lag {lag} | dead letters {dead} | total in {inTotal:N0}, out {outTotal:N0}";
        }

        try
        {
            if (Output.InteractiveMessages)
            {
                await Output.Messages.Status().Spinner(Spinner.Known.Dots).StartAsync("starting", async ctx =>
                {
                    while (!ct.IsCancellationRequested)
                    {
                        await Task.Delay(LiveInterval, ct);
                        ctx.Status(Markup.Escape(await SampleAsync()));
                    }
                });
            }
            else
            {
                while (!ct.IsCancellationRequested)
                {
                    await Task.Delay(PlainInterval, ct);
                    Console.Error.WriteLine($"{DateTime.Now:HH:mm:ss} {await SampleAsync()}");
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private sealed record DevSettings(string Role, int GrpcPort, int HttpPort, int ManagementPort, string DataDir, FileInfo? TenantsFile,
        TimeSpan FlushDelay, int FlushBytes, long InFlightBudgetBytes, bool InlineScheduling, bool ManagementPortGiven = false);

    /// <summary>
    /// A runner without a gateway: its meters as Prometheus text on the management port when one is given (the
    /// default port is the gateway's, and several runners on one machine would collide on it), and to OTLP or
    /// Azure Monitor as the environment says (<see cref="TelemetryComposition"/>) either way.
    /// </summary>
    private static async Task<IAsyncDisposable> StartRunnerTelemetryAsync(DevSettings settings, CancellationToken ct)
    {
        var configuration = new ConfigurationBuilder().AddEnvironmentVariables().Build();
        if (!settings.ManagementPortGiven)
        {
            return new AsyncDisposer(OpenTelemetry.Sdk.CreateMeterProviderBuilder().AddServerlessOtlpMeters().AddServerlessOtlpExporters(configuration).Build());
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, settings.ManagementPort));
        builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddServerlessOtlpMeters().AddPrometheusExporter().AddServerlessOtlpExporters(configuration));
        var app = builder.Build();
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapGet("/healthz", () => "ok");
        try
        {
            await app.StartAsync(ct);
        }
        catch (IOException ex)
        {
            await app.DisposeAsync();
            throw new CliException($"could not listen on --management-port {settings.ManagementPort}: {ex.Message}", ExitCodes.Failure, ex);
        }

        return app;
    }

    private sealed class AsyncDisposer(IDisposable? inner) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            inner?.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
