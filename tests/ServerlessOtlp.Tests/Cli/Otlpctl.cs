using System.Diagnostics;
using System.Text;

namespace ServerlessOtlp.Tests.Cli;

/// <summary>Runs the real otlpctl (its built dll, with <c>dotnet</c>) as a child process.</summary>
public sealed class Otlpctl : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    private Otlpctl(Process process)
    {
        _process = process;
    }

    public static string DllPath
    {
        get
        {
            string dll = typeof(ServerlessOtlp.Cli.OtlpctlApp).Assembly.Location;
            if (File.Exists(Path.ChangeExtension(dll, ".runtimeconfig.json")))
            {
                return dll;
            }

            // A referenced exe may be copied without its runtimeconfig: use the tool's own output.
            string config = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Parent!.Name; // bin/<config>/net10.0
            string own = Path.Combine(Infrastructure.RepoRoot.Path, "tools", "otlpctl", "bin", config, "net10.0", "otlpctl.dll");
            return File.Exists(own) ? own : dll;
        }
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public string Stdout
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public static Otlpctl Start(string? workingDirectory, params string[] args) => Start(workingDirectory, null, args);

    /// <summary>Starts otlpctl with extra environment variables (settings named as the Functions app names them).</summary>
    public static Otlpctl Start(string? workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = workingDirectory ?? Directory.GetCurrentDirectory(),
        };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[name] = value;
        }

        psi.ArgumentList.Add(DllPath);
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        var p = Process.Start(psi)!;
        var ctl = new Otlpctl(p);
        p.OutputDataReceived += (_, e) =>
        {
            if (e.Data != null)
            {
                lock (ctl._stdout)
                {
                    ctl._stdout.AppendLine(e.Data);
                }
            }
        };
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data != null)
            {
                lock (ctl._stderr)
                {
                    ctl._stderr.AppendLine(e.Data);
                }
            }
        };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return ctl;
    }

    /// <summary>Runs to completion; returns the exit code (stdout/stderr on the instance).</summary>
    public static async Task<Otlpctl> RunAsync(params string[] args) => await RunAsync(null, args);

    /// <summary>Runs to completion with extra environment variables.</summary>
    public static async Task<Otlpctl> RunAsync(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var ctl = Start(null, environment, args);
        await ctl.WaitAsync(TimeSpan.FromSeconds(90));
        return ctl;
    }

    public async Task<bool> WaitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Sends SIGTERM, as a container runtime or systemd would.</summary>
    public void Terminate()
    {
        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", _process.Id.ToString() }, UseShellExecute = false })!;
        kill.WaitForExit();
    }

    public override string ToString() => $"exit {(_process.HasExited ? _process.ExitCode : -1)}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }

        _process.Dispose();
    }
}
