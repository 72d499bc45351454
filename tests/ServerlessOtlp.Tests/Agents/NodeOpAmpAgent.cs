using System.Diagnostics;
using System.Text.Json;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Agents;

/// <summary>
/// The real npm OpAMP client (<c>@elastic/opamp-client-node</c>, installed by <c>npm ci</c>) running
/// <c>js/opamp-agent.cjs</c> in node: its JSON lines (configs received, sends) are collected for the test.
/// </summary>
public sealed class NodeOpAmpAgent : IDisposable
{
    private readonly Process _process;
    private readonly List<JsonElement> _events = [];
    private readonly System.Text.StringBuilder _stderr = new();

    private NodeOpAmpAgent(Process process, Guid uid)
    {
        _process = process;
        Uid = uid;
    }

    public Guid Uid { get; }

    /// <summary>The UID as the gateway keys it (32 hex digits, RFC 4122 byte order).</summary>
    public string UidHex => Convert.ToHexStringLower(Uid.ToByteArray(bigEndian: true));

    public static string Script => Path.Combine(RepoRoot.Path, "tests", "ServerlessOtlp.Tests", "Agents", "js", "opamp-agent.cjs");

    /// <summary>Why the npm client cannot run here, or null.</summary>
    public static string? Unavailable()
    {
        if (!Directory.Exists(Path.Combine(RepoRoot.Path, "node_modules", "@elastic", "opamp-client-node")))
        {
            return "@elastic/opamp-client-node is not installed: run `npm ci` (the README's test command does)";
        }

        try
        {
            using var node = Process.Start(new ProcessStartInfo("node", "--version") { RedirectStandardOutput = true, UseShellExecute = false })!;
            node.WaitForExit(30_000);
            return node.ExitCode == 0 ? null : "node --version failed";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "node is not on PATH";
        }
    }

    public static NodeOpAmpAgent Start(string endpoint, string key, string service, Guid? uid = null, string mode = "apply", string? failMessage = null, double heartbeatSeconds = 1)
    {
        var id = uid ?? Guid.CreateVersion7();
        var psi = new ProcessStartInfo("node")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = RepoRoot.Path,
        };
        psi.ArgumentList.Add(Script);
        psi.Environment["OPAMP_ENDPOINT"] = endpoint;
        psi.Environment["OPAMP_KEY"] = key;
        psi.Environment["OPAMP_UID"] = id.ToString();
        psi.Environment["OPAMP_SERVICE"] = service;
        psi.Environment["OPAMP_MODE"] = mode;
        psi.Environment["OPAMP_HEARTBEAT_SECONDS"] = heartbeatSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (failMessage is not null)
        {
            psi.Environment["OPAMP_FAIL_MESSAGE"] = failMessage;
        }

        var process = Process.Start(psi)!;
        var agent = new NodeOpAmpAgent(process, id);
        process.OutputDataReceived += (_, e) =>
        {
            if (string.IsNullOrWhiteSpace(e.Data))
            {
                return;
            }

            try
            {
                using var doc = JsonDocument.Parse(e.Data);
                lock (agent._events)
                {
                    agent._events.Add(doc.RootElement.Clone());
                }
            }
            catch (JsonException)
            {
                lock (agent._stderr)
                {
                    agent._stderr.AppendLine("stdout: " + e.Data);
                }
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data != null)
            {
                lock (agent._stderr)
                {
                    agent._stderr.AppendLine(e.Data);
                }
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return agent;
    }

    public IReadOnlyList<JsonElement> Events
    {
        get
        {
            lock (_events)
            {
                return [.. _events];
            }
        }
    }

    /// <summary>The remote configs received, in order: (hash hex, config names, first body).</summary>
    public IReadOnlyList<(string Hash, string[] Names, string Body)> Configs =>
        Events.Where(e => e.GetProperty("event").GetString() == "config")
            .Select(e => (e.GetProperty("hash").GetString()!, e.GetProperty("names").EnumerateArray().Select(n => n.GetString()!).ToArray(), e.GetProperty("body").GetString()!))
            .ToList();

    public int Sent => Events.Count(e => e.GetProperty("event").GetString() == "sent");

    /// <summary>Waits (real time: the agent is a real process) until <paramref name="condition"/> holds.</summary>
    public async Task WaitForAsync(Func<NodeOpAmpAgent, bool> condition, string what, TimeSpan? limit = null)
    {
        var deadline = DateTime.UtcNow + (limit ?? TimeSpan.FromSeconds(90));
        while (!condition(this))
        {
            if (_process.HasExited || DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException($"npm agent {UidHex}: {what} did not happen\n{this}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>SIGTERM: the client shuts down (it sends no goodbye) and the process exits.</summary>
    public async Task StopAsync()
    {
        if (_process.HasExited)
        {
            return;
        }

        using (var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", _process.Id.ToString() }, UseShellExecute = false })!)
        {
            await kill.WaitForExitAsync();
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
        }
    }

    public override string ToString()
    {
        string stderr;
        lock (_stderr)
        {
            stderr = _stderr.ToString();
        }

        return $"events:\n{string.Join("\n", Events.Select(e => e.GetRawText()))}\nstderr:\n{stderr}";
    }

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
