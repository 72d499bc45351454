using System.Diagnostics;
using System.Text;

namespace ServerlessOtlp.EventHubsEmulator.Tests;

/// <summary>A child process whose stderr is collected in the background, so it can never block on a full pipe.</summary>
internal sealed class ProcessRunner : IDisposable
{
    private readonly StringBuilder errors = new();

    private ProcessRunner(Process process)
    {
        Process = process;
        process.ErrorDataReceived += (_, line) =>
        {
            if (line.Data is not null)
            {
                lock (errors)
                {
                    errors.AppendLine(line.Data);
                }
            }
        };
        process.BeginErrorReadLine();
    }

    public Process Process { get; }

    public string Errors
    {
        get
        {
            lock (errors)
            {
                return errors.ToString();
            }
        }
    }

    public static ProcessRunner Start(string fileName, string workingDirectory, params string[] arguments)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return new ProcessRunner(Process.Start(start) ?? throw new InvalidOperationException($"Could not start {fileName}."));
    }

    /// <summary>Finds an executable on PATH, or null.</summary>
    public static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, name))
            .FirstOrDefault(File.Exists);

    public async Task<int> WaitForExitAsync()
    {
        using var deadline = new CancellationTokenSource(Emulators.Patience);
        await Process.WaitForExitAsync(deadline.Token);
        return Process.ExitCode;
    }

    public void Dispose()
    {
        if (!Process.HasExited)
        {
            Process.Kill(entireProcessTree: true);
        }

        Process.Dispose();
    }
}
