using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json;
using ServerlessOtlp.Cli.Terminal;

namespace ServerlessOtlp.Cli.Azurite;

/// <summary>
/// Makes sure Azurite listens on 127.0.0.1:10000–10002: uses one that already does (another
/// <c>otlpctl dev</c>, a container, VS Code's), or starts the repository's pinned Azurite
/// (<c>node_modules/.bin/azurite</c>, installed with npm on first use) with its data under the
/// data dir, and stops it again on <see cref="DisposeAsync"/> when it started it.
/// </summary>
internal sealed class AzuriteLauncher : IAsyncDisposable
{
    public const int BlobPort = 10000;
    public const int QueuePort = 10001;
    public const int TablePort = 10002;

    // Azurite starts in about a second; a first start after npm ci on a slow disk takes longer.
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    // Azurite flushes its metadata on SIGTERM; give it this long before it is killed.
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(5);

    private Process? _process;

    private AzuriteLauncher()
    {
    }

    /// <summary>True when this launcher started Azurite (and will stop it).</summary>
    public bool Started => _process != null;

    public static async Task<AzuriteLauncher> EnsureRunningAsync(string dataDir, CancellationToken cancellationToken)
    {
        var launcher = new AzuriteLauncher();
        int[] ports = [BlobPort, QueuePort, TablePort];
        var listening = new bool[ports.Length];
        for (int i = 0; i < ports.Length; i++)
        {
            listening[i] = await IsListeningAsync(ports[i], cancellationToken);
        }

        if (listening.All(l => l))
        {
            Output.Info("Using the Azurite already listening on 127.0.0.1:10000-10002.");
            return launcher;
        }

        if (listening.Any(l => l))
        {
            var busy = ports.Where((_, i) => listening[i]);
            throw new CliException(
                $"something listens on 127.0.0.1 port(s) {string.Join(", ", busy)} but not on all of 10000-10002, so it is not a complete Azurite: stop it, or pass --storage CONNECTION_STRING");
        }

        string azurite = await FindOrInstallAsync(cancellationToken);
        string location = Path.Combine(Path.GetFullPath(dataDir), "azurite");
        Directory.CreateDirectory(location);
        var psi = new ProcessStartInfo(azurite)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (string arg in new[]
                 {
                     "--skipApiVersionCheck", "--loose", "--silent", "--location", location,
                     "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1",
                 })
        {
            psi.ArgumentList.Add(arg);
        }

        Output.Info($"Starting Azurite ({Spectre.Console.Markup.Escape(azurite)}), data in {Spectre.Console.Markup.Escape(location)}");
        var errors = new System.Text.StringBuilder();
        var process = Process.Start(psi) ?? throw new CliException($"could not start {azurite}");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data != null)
            {
                lock (errors)
                {
                    errors.AppendLine(e.Data);
                }
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        launcher._process = process;

        var deadline = DateTime.UtcNow + StartTimeout;
        foreach (int port in ports)
        {
            while (!await IsListeningAsync(port, cancellationToken))
            {
                if (process.HasExited || DateTime.UtcNow > deadline)
                {
                    await launcher.DisposeAsync();
                    string stderr;
                    lock (errors)
                    {
                        stderr = errors.ToString().Trim();
                    }

                    throw new CliException($"Azurite did not start listening on 127.0.0.1:{port}{(stderr.Length > 0 ? ": " + stderr : "")}. " +
                                           "Is another program using ports 10000-10002? Or pass --storage CONNECTION_STRING.");
                }

                await Task.Delay(100, cancellationToken);
            }
        }

        return launcher;
    }

    public async ValueTask DisposeAsync()
    {
        var process = _process;
        _process = null;
        if (process == null)
        {
            return;
        }

        try
        {
            if (!process.HasExited)
            {
                if (!OperatingSystem.IsWindows())
                {
                    _ = NativeMethods.kill(process.Id, NativeMethods.SIGTERM);
                }

                using var timeout = new CancellationTokenSource(StopTimeout);
                try
                {
                    await process.WaitForExitAsync(OperatingSystem.IsWindows() ? new CancellationToken(true) : timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync(CancellationToken.None);
                }
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        finally
        {
            process.Dispose();
        }
    }

    public static async Task<bool> IsListeningAsync(int port, CancellationToken cancellationToken = default)
    {
        using var client = new TcpClient();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(1));
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>The directory above the current one (or above this tool) whose package.json pins azurite.</summary>
    public static string? FindRepoRoot()
    {
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
            {
                string package = Path.Combine(dir.FullName, "package.json");
                if (File.Exists(package) && PinsAzurite(package))
                {
                    return dir.FullName;
                }
            }
        }

        return null;
    }

    private static bool PinsAzurite(string packageJson)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(packageJson));
            foreach (string section in new[] { "devDependencies", "dependencies" })
            {
                if (doc.RootElement.TryGetProperty(section, out var deps) && deps.ValueKind == JsonValueKind.Object && deps.TryGetProperty("azurite", out _))
                {
                    return true;
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or IOException)
        {
        }

        return false;
    }

    private static string BinPath(string root) =>
        Path.Combine(root, "node_modules", ".bin", OperatingSystem.IsWindows() ? "azurite.cmd" : "azurite");

    private static async Task<string> FindOrInstallAsync(CancellationToken cancellationToken)
    {
        string root = FindRepoRoot() ?? throw new CliException(
            "Azurite is not running on 127.0.0.1:10000-10002 and no package.json pinning azurite was found above the current directory: " +
            "run otlpctl dev from the ServerlessOtlp repository, start Azurite yourself (npx azurite@3.35.0 --skipApiVersionCheck), or pass --storage CONNECTION_STRING");
        string bin = BinPath(root);
        if (File.Exists(bin))
        {
            return bin;
        }

        string? npm = FindOnPath(OperatingSystem.IsWindows() ? "npm.cmd" : "npm");
        if (npm == null)
        {
            throw new CliException(
                $"Azurite is not installed in {root}/node_modules and npm was not found: install Node.js 20 (https://nodejs.org, it brings npm), then run otlpctl dev again (it runs `npm ci` there), or pass --storage CONNECTION_STRING");
        }

        string verb = File.Exists(Path.Combine(root, "package-lock.json")) ? "ci" : "install";
        Output.Info($"Azurite is not installed yet: running [bold]npm {verb}[/] in {Spectre.Console.Markup.Escape(root)} (once)…");
        var psi = new ProcessStartInfo(npm) { WorkingDirectory = root, UseShellExecute = false };
        psi.ArgumentList.Add(verb);
        psi.ArgumentList.Add("--no-audit");
        psi.ArgumentList.Add("--no-fund");
        using var npmProcess = Process.Start(psi) ?? throw new CliException("could not start npm");
        await npmProcess.WaitForExitAsync(cancellationToken);
        if (npmProcess.ExitCode != 0 || !File.Exists(bin))
        {
            throw new CliException($"`npm {verb}` in {root} failed (exit code {npmProcess.ExitCode}); fix the error above, or pass --storage CONNECTION_STRING");
        }

        return bin;
    }

    private static string? FindOnPath(string file)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, file);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static class NativeMethods
    {
        public const int SIGTERM = 15;

        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int kill(int pid, int sig);
    }
}
