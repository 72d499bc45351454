using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ServerlessOtlp.Tests.Cli;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Reliability;

/// <summary>Opt-in long runs: <c>SERVERLESSOTLP_SOAK=1</c>.</summary>
public static class Soak
{
    public static bool Enabled => Environment.GetEnvironmentVariable("SERVERLESSOTLP_SOAK") == "1";

    /// <summary>The CI value, or the soak value when <c>SERVERLESSOTLP_SOAK=1</c>.</summary>
    public static int Pick(int ci, int soak) => Enabled ? soak : ci;

    public static string Note(string what) =>
        Enabled ? $"SOAK: {what} (SERVERLESSOTLP_SOAK=1)" : $"short CI run: {what}; set SERVERLESSOTLP_SOAK=1 for the long version";
}

/// <summary>A child process (otlpctl or Azurite) with captured output, killed with SIGKILL on demand.</summary>
public sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private ChildProcess(Process process, string name)
    {
        _process = process;
        Name = name;
    }

    public string Name { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts <c>dotnet otlpctl.dll args…</c> with extra environment variables.</summary>
    public static ChildProcess Otlpctl(string name, string workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] args) =>
        Start(name, "dotnet", workingDirectory, environment, [Cli.Otlpctl.DllPath, .. args]);

    public static ChildProcess Start(string name, string file, string workingDirectory, IReadOnlyDictionary<string, string>? environment, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(file)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = workingDirectory,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }

        var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + file);
        var child = new ChildProcess(p, name);
        DataReceivedEventHandler append = (_, e) =>
        {
            if (e.Data != null)
            {
                lock (child._output)
                {
                    child._output.AppendLine(e.Data);
                }
            }
        };
        p.OutputDataReceived += append;
        p.ErrorDataReceived += append;
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return child;
    }

    /// <summary>The process's exit code once it has exited and its output is read to the end.</summary>
    public async Task<int> WaitForExitAsync(CancellationToken cancellationToken = default)
    {
        await _process.WaitForExitAsync(cancellationToken);
        return _process.ExitCode;
    }

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
    }

    public override string ToString() => $"--- {Name} (pid {Id}, {(HasExited ? "exited " + _process.ExitCode : "running")}) ---\n{Output}";

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }

    /// <summary>Waits until every port accepts connections; false when the process exits first or the time is up.</summary>
    public static async Task<bool> WaitListeningAsync(ChildProcess process, int[] ports, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        foreach (int port in ports)
        {
            while (!await CanConnectAsync(port))
            {
                if (process.HasExited || DateTime.UtcNow > deadline)
                {
                    return false;
                }

                await Task.Delay(100);
            }
        }

        return true;
    }

    public static async Task<bool> CanConnectAsync(int port)
    {
        try
        {
            using var c = new TcpClient();
            await c.ConnectAsync(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

/// <summary>
/// An Azurite of its own with persistent storage (<c>--location</c>) on fixed random ports, so
/// that it can be killed and restarted with its data — the shared fixture's in-memory Azurite
/// would lose everything on a restart.
/// </summary>
public sealed class PersistentAzurite : IDisposable
{
    private ChildProcess? _process;

    public PersistentAzurite()
    {
        Location = CliTestData.TempDir("azurite-persistent");
        PickPorts();
    }

    public string Location { get; }

    public int BlobPort { get; private set; }

    public int QueuePort { get; private set; }

    public int TablePort { get; private set; }

    private bool _started;

    private void PickPorts()
    {
        BlobPort = TestPorts.Next();
        QueuePort = TestPorts.Next();
        TablePort = TestPorts.Next();
    }

    public string ConnectionString =>
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
        $"BlobEndpoint=http://127.0.0.1:{BlobPort}/devstoreaccount1;" +
        $"QueueEndpoint=http://127.0.0.1:{QueuePort}/devstoreaccount1;" +
        $"TableEndpoint=http://127.0.0.1:{TablePort}/devstoreaccount1;";

    /// <summary>
    /// Starts Azurite; the first start moves to other ports when another process took one first,
    /// a restart keeps them (that is the point of a restart).
    /// </summary>
    public async Task StartAsync()
    {
        string azurite = Path.Combine(RepoRoot.Path, "node_modules", ".bin", "azurite");
        if (!File.Exists(azurite))
        {
            throw new InvalidOperationException($"Azurite is not installed at {azurite}: run `npm ci` in {RepoRoot.Path}.");
        }

        for (int attempt = 1; ; attempt++)
        {
            _process?.Dispose();
            _process = ChildProcess.Start("azurite", azurite, Location, null,
                ["--location", Location, .. AzuriteFixture.Arguments(BlobPort, QueuePort, TablePort)]);
            if (await ChildProcess.WaitListeningAsync(_process, [BlobPort, QueuePort, TablePort], TimeSpan.FromSeconds(60)))
            {
                _started = true;
                return;
            }

            _process.Kill();
            if (_started || attempt >= 5 || !TestPorts.LostItsPort(_process.Output))
            {
                throw new InvalidOperationException($"Azurite did not listen on {BlobPort}/{QueuePort}/{TablePort}:\n{_process}");
            }

            PickPorts();
        }
    }

    /// <summary>SIGKILL (a crash, not a clean stop).</summary>
    public void Kill() => _process?.Kill();

    /// <summary>
    /// SIGTERM and wait: an outage without Azurite's own data loss. Azurite keeps its metadata in
    /// LokiJS and saves it every few seconds, so a SIGKILL loses writes it had already acknowledged;
    /// real Azure Storage does not, so the outage test stops it this way.
    /// </summary>
    public void Stop()
    {
        if (_process is { HasExited: false } p)
        {
            using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", p.Id.ToString() }, UseShellExecute = false })!;
            kill.WaitForExit();
            for (int i = 0; i < 100 && !p.HasExited; i++)
            {
                Thread.Sleep(100);
            }

            p.Kill();
        }
    }

    public void Dispose()
    {
        _process?.Dispose();
        try
        {
            Directory.Delete(Location, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

/// <summary>One <c>otlpctl dev</c> process (a role) against a given storage, with short drain timings.</summary>
public sealed class DevNode : IDisposable
{
    public static readonly TimeSpan LeaseTtl = TimeSpan.FromSeconds(6);
    public const int BatchMaxEvents = 64;

    private DevNode(ChildProcess process, string role, int grpc, int http, int management)
    {
        Process = process;
        Role = role;
        GrpcPort = grpc;
        HttpPort = http;
        ManagementPort = management;
    }

    public ChildProcess Process { get; }

    public string Role { get; }

    public int GrpcPort { get; }

    public int HttpPort { get; }

    public int ManagementPort { get; }

    public Uri GrpcUri => new($"http://127.0.0.1:{GrpcPort}");

    /// <summary>The runner's lease owner id starts with this (DrainOptions.OwnerId: drain-{machine}-{pid}-…).</summary>
    public string OwnerPrefix => $"drain-{Environment.MachineName}-{Process.Id}-";

    public static Dictionary<string, string> DrainEnvironment(TimeSpan? leaseTtl = null) => new()
    {
        ["ServerlessOtlp__Drain__LeaseTtl"] = (leaseTtl ?? LeaseTtl).ToString("c"),
        ["ServerlessOtlp__Drain__ExportTimeout"] = "00:00:02",
        ["ServerlessOtlp__Drain__IdleTimeout"] = "00:00:03",
        ["ServerlessOtlp__Drain__BatchMaxEvents"] = BatchMaxEvents.ToString(),
        ["DOTNET_gcServer"] = "0",
    };

    /// <summary>Starts a node and waits until it is ready (the gateway's /readyz, or the runner's "Ready." line).</summary>
    /// <param name="logArgs">otlpctl's log flags (e.g. <c>--log eventhubs --event-hubs-connection-string CS</c>); the blob log when empty.</param>
    /// <param name="environment">Added to <see cref="DrainEnvironment"/> (e.g. the failure detector's timings).</param>
    public static async Task<DevNode> StartAsync(string role, string storage, string dataDir, string tenants, int? grpc = null, int? http = null, int? management = null, IReadOnlyList<string>? logArgs = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        int g = grpc ?? TestPorts.Next(), h = http ?? TestPorts.Next(), m = management ?? TestPorts.Next();
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            var env = DrainEnvironment();
            foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            {
                env[name] = value;
            }

            var process = ChildProcess.Otlpctl($"dev --role {role}", dataDir, env,
                [
                    "dev", "--role", role, "--storage", storage, "--data-dir", dataDir, "--tenants", tenants,
                    "--grpc-port", g.ToString(), "--http-port", h.ToString(), "--management-port", m.ToString(), .. logArgs ?? [],
                ]);
            var node = new DevNode(process, role, g, h, m);
            if (await node.WaitReadyAsync(deadline))
            {
                return node;
            }

            // A port still held by the killed predecessor (TIME_WAIT): try again shortly. Ports we
            // chose ourselves are moved instead (another process may have bound one first).
            string output = process.ToString();
            process.Dispose();
            if (DateTime.UtcNow > deadline || !TestPorts.LostItsPort(output) && !output.Contains("in use", StringComparison.Ordinal))
            {
                throw new InvalidOperationException("otlpctl dev did not become ready:\n" + output);
            }

            if (grpc == null && http == null && management == null)
            {
                (g, h, m) = (TestPorts.Next(), TestPorts.Next(), TestPorts.Next());
            }

            await Task.Delay(500);
        }
    }

    private async Task<bool> WaitReadyAsync(DateTime deadline)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        while (DateTime.UtcNow < deadline)
        {
            if (Process.HasExited)
            {
                return false;
            }

            if (Role == "runner")
            {
                if (Process.Output.Contains("Ready.", StringComparison.Ordinal))
                {
                    return true;
                }
            }
            else
            {
                try
                {
                    if ((await client.GetAsync($"http://127.0.0.1:{HttpPort}/readyz")).StatusCode == HttpStatusCode.OK)
                    {
                        return true;
                    }
                }
                catch (HttpRequestException)
                {
                }
                catch (TaskCanceledException)
                {
                }
            }

            await Task.Delay(200);
        }

        return false;
    }

    public void Kill() => Process.Kill();

    public void Dispose() => Process.Dispose();
}
