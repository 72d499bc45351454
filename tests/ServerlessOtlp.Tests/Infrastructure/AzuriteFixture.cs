using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Tests.Infrastructure;

/// <summary>
/// Starts the repository's pinned Azurite (node_modules/.bin/azurite, installed by `npm ci`)
/// on random loopback ports with an in-memory store, once per test collection.
/// </summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    private Process? _process;

    public int BlobPort { get; private set; }

    public int QueuePort { get; private set; }

    public int TablePort { get; private set; }

    public string ConnectionString =>
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
        $"BlobEndpoint=http://127.0.0.1:{BlobPort}/devstoreaccount1;" +
        $"QueueEndpoint=http://127.0.0.1:{QueuePort}/devstoreaccount1;" +
        $"TableEndpoint=http://127.0.0.1:{TablePort}/devstoreaccount1;";

    /// <summary>
    /// Storage clients on this Azurite whose tables, queue and containers are this caller's alone,
    /// so that no other test's leftovers (retry store, dead letters, drain jobs, node rows) change
    /// what this one sees, whatever the order the tests run in.
    /// </summary>
    public StorageClients IsolatedStorage() => new(new StorageOptions { ConnectionString = ConnectionString, Names = UniqueNames() });

    /// <summary>Every storage name with a suffix of its own; also as environment variables for child processes.</summary>
    public static StorageNames UniqueNames()
    {
        string id = Guid.NewGuid().ToString("N")[..10];
        return new StorageNames
        {
            Checkpoints = "checkpoints" + id,
            Leases = "leases" + id,
            Nodes = "nodes" + id,
            Tenants = "tenants" + id,
            Agents = "agents" + id,
            DrainJobs = "drain-jobs-" + id,
            LogContainer = "otlp-log-" + id,
            RetryContainer = "retry-" + id,
            DeadLetterContainer = "deadletter-" + id,
            PartitionStateContainer = "drain-state-" + id,
            TenantContainer = "tenants-" + id,
        };
    }

    /// <summary><paramref name="names"/> as the <c>ServerlessOtlp__Storage__Names__*</c> settings a child process binds.</summary>
    public static Dictionary<string, string> NameSettings(StorageNames names) => new()
    {
        ["ServerlessOtlp__Storage__Names__Checkpoints"] = names.Checkpoints,
        ["ServerlessOtlp__Storage__Names__Leases"] = names.Leases,
        ["ServerlessOtlp__Storage__Names__Nodes"] = names.Nodes,
        ["ServerlessOtlp__Storage__Names__Tenants"] = names.Tenants,
        ["ServerlessOtlp__Storage__Names__Agents"] = names.Agents,
        ["ServerlessOtlp__Storage__Names__DrainJobs"] = names.DrainJobs,
        ["ServerlessOtlp__Storage__Names__LogContainer"] = names.LogContainer,
        ["ServerlessOtlp__Storage__Names__RetryContainer"] = names.RetryContainer,
        ["ServerlessOtlp__Storage__Names__DeadLetterContainer"] = names.DeadLetterContainer,
        ["ServerlessOtlp__Storage__Names__PartitionStateContainer"] = names.PartitionStateContainer,
        ["ServerlessOtlp__Storage__Names__TenantContainer"] = names.TenantContainer,
    };

    public async Task InitializeAsync()
    {
        string root = RepoRoot.Path;
        string azurite = Path.Combine(root, "node_modules", ".bin", "azurite");
        if (!File.Exists(azurite))
        {
            throw new InvalidOperationException($"Azurite is not installed at {azurite}: run `npm ci` in {root} (the README's test command does).");
        }

        for (int attempt = 1; ; attempt++)
        {
            BlobPort = TestPorts.Next();
            QueuePort = TestPorts.Next();
            TablePort = TestPorts.Next();
            var output = new System.Text.StringBuilder();
            var psi = new ProcessStartInfo(azurite)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var arg in Arguments(BlobPort, QueuePort, TablePort))
            {
                psi.ArgumentList.Add(arg);
            }

            psi.ArgumentList.Add("--inMemoryPersistence");
            _process = Process.Start(psi) ?? throw new InvalidOperationException("could not start Azurite");
            DataReceivedEventHandler keep = (_, e) =>
            {
                if (e.Data != null)
                {
                    lock (output)
                    {
                        output.AppendLine(e.Data);
                    }
                }
            };
            _process.OutputDataReceived += keep;
            _process.ErrorDataReceived += keep;
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();

            if (await WaitListeningAsync(_process, [BlobPort, QueuePort, TablePort], TimeSpan.FromSeconds(60)))
            {
                return;
            }

            string text;
            lock (output)
            {
                text = output.ToString();
            }

            await DisposeAsync();
            if (attempt >= 5 || !TestPorts.LostItsPort(text))
            {
                throw new InvalidOperationException($"Azurite did not listen on {BlobPort}/{QueuePort}/{TablePort}:\n{text}");
            }
        }
    }

    /// <summary>The arguments every Azurite of the tests gets: loopback ports, no telemetry (no network beyond this machine).</summary>
    public static IEnumerable<string> Arguments(int blobPort, int queuePort, int tablePort) =>
    [
        "--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry",
        "--blobHost", "127.0.0.1", "--blobPort", blobPort.ToString(),
        "--queueHost", "127.0.0.1", "--queuePort", queuePort.ToString(),
        "--tableHost", "127.0.0.1", "--tablePort", tablePort.ToString(),
    ];

    /// <summary>Waits until every port accepts connections; false when the process exits first or the time is up.</summary>
    public static async Task<bool> WaitListeningAsync(Process process, int[] ports, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        foreach (int port in ports)
        {
            while (!await CanConnect(port))
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

    public Task DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }

        _process?.Dispose();
        _process = null;
        return Task.CompletedTask;
    }

    private static async Task<bool> CanConnect(int port)
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

[CollectionDefinition(Name)]
public sealed class AzuriteCollection : ICollectionFixture<AzuriteFixture>
{
    public const string Name = "Azurite";
}

public static class RepoRoot
{
    public static string Path { get; } = Find();

    private static string Find()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(System.IO.Path.Combine(dir.FullName, "ServerlessOtlp.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("ServerlessOtlp.sln not found above " + AppContext.BaseDirectory);
    }
}
