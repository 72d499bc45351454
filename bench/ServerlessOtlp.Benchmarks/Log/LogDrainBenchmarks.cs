using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Azure.Data.Tables;
using Azure.Messaging.EventHubs.Producer;
using Azure.Storage.Blobs;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using ServerlessOtlp.EventHubsEmulator;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Benchmarks.Log;

/// <summary>
/// Drain throughput of one partition on each log, everything but the export: the drain engine reads a
/// 32 MiB backlog from its checkpoint to the end with the default batch and memory settings, settling every
/// event with a processor that does nothing, and checkpoints each batch (Table storage, fenced). The blob
/// log is on Azurite (in memory, a node process); Event Hubs is the tests' local AMQP endpoint in this
/// process, read through the real SDK. Both on loopback: the figures compare the logs' read paths, not a
/// network. Events/s = events per operation ÷ mean time.
/// </summary>
[Config(typeof(Columns))]
public class LogDrainBenchmarks
{
    private const long BacklogBytes = 32L * 1024 * 1024;

    private Process? _azurite;
    private EventHubsEmulator.EventHubsEmulator? _emulator;
    private IPartitionedLog _log = null!;
    private CheckpointStore _checkpoints = null!;
    private LeaseStore _leases = null!;
    private DeadLetterStore _deadLetters = null!;
    private LogPosition _end;
    private int _round;

    [Params("blob", "eventhubs")]
    public string Log { get; set; } = "blob";

    /// <summary>A merged gateway event of SDK batches, and the largest the gateway writes.</summary>
    [Params(16 * 1024, 950 * 1000)]
    public int EventBytes { get; set; }

    public int Events => (int)(BacklogBytes / EventBytes);

    [GlobalSetup]
    public void Setup() => SetupAsync().GetAwaiter().GetResult();

    private async Task SetupAsync()
    {
        string connection = await StartAzuriteAsync();
        var tables = new TableServiceClient(connection);
        var blobs = new BlobServiceClient(connection);
        string id = Guid.NewGuid().ToString("N")[..8];
        _checkpoints = new CheckpointStore(tables, "cp" + id);
        _leases = new LeaseStore(tables, "ls" + id);
        _deadLetters = new DeadLetterStore(blobs.GetBlobContainerClient("dl" + id));
        await _checkpoints.EnsureCreatedAsync();
        await _leases.EnsureCreatedAsync();
        await _deadLetters.EnsureCreatedAsync();

        if (Log == "blob")
        {
            var container = blobs.GetBlobContainerClient("log" + id);
            await container.CreateIfNotExistsAsync();
            _log = new BlobLog(container, new BlobLogOptions { Name = "bench" + id, Partitions = 1 });
        }
        else
        {
            _emulator = await EventHubsEmulator.EventHubsEmulator.StartAsync(new EmulatorOptions { Port = 0, Partitions = 1, HubName = "bench" });
            var options = new EventHubsLogOptions { ConnectionString = _emulator.ConnectionString, EventHubName = "bench" };
            _log = EventHubsLog.Create(options);
        }

        await _log.OpenAsync();
        var body = new byte[EventBytes];
        Random.Shared.NextBytes(body);
        var properties = new EventProperties("bench", Signal.Traces, BodyCodec.Protobuf, 100, DateTimeOffset.UtcNow, "bench");
        int perAppend = Math.Max(1, 900_000 / EventBytes);
        for (int written = 0; written < Events; written += perAppend)
        {
            await _log.AppendAsync(0, Enumerable.Repeat(new LogEvent(properties, body), Math.Min(perAppend, Events - written)).ToList());
        }

        _end = await _log.GetEndAsync(0);
    }

    /// <summary>Drains the whole backlog under a consumer group of its own, so each round starts at the beginning.</summary>
    [Benchmark]
    public async Task<long> DrainBacklog()
    {
        var options = new DrainOptions { OwnerId = "bench", ConsumerGroup = "bench-" + Interlocked.Increment(ref _round) };
        var engine = new DrainEngine(_log, _checkpoints, _leases, new SettleEverything(), _deadLetters, options);
        var result = await engine.DrainAsync(0, keepAlive: false, stopAt: _end);
        if (result.End != DrainEnd.ReachedEnd || result.Events != Events)
        {
            throw new InvalidOperationException($"drained {result.Events} of {Events} events, ended {result.End}");
        }

        return result.Events;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _log.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _emulator?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        if (_azurite is { HasExited: false })
        {
            _azurite.Kill(entireProcessTree: true);
        }
    }

    /// <summary>The repository's pinned Azurite, in memory, on free loopback ports.</summary>
    private async Task<string> StartAzuriteAsync()
    {
        string root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "ServerlessOtlp.sln")))
        {
            root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("run from the repository (bench/run.sh)");
        }

        int blob = FreePort(), queue = FreePort(), table = FreePort();
        var start = new ProcessStartInfo(Path.Combine(root, "node_modules", ".bin", "azurite"))
        {
            ArgumentList = { "--inMemoryPersistence", "--silent", "--skipApiVersionCheck", "--disableTelemetry", "--blobPort", blob.ToString(), "--queuePort", queue.ToString(), "--tablePort", table.ToString(), "--loose" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        _azurite = Process.Start(start) ?? throw new InvalidOperationException("azurite did not start (npm ci installs it)");
        var deadline = Stopwatch.StartNew();
        while (!Listening(table) || !Listening(blob))
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(60) || _azurite.HasExited)
            {
                throw new InvalidOperationException("azurite did not listen");
            }

            await Task.Delay(100);
        }

        return "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
               $"BlobEndpoint=http://127.0.0.1:{blob}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{queue}/devstoreaccount1;TableEndpoint=http://127.0.0.1:{table}/devstoreaccount1;";
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static bool Listening(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private sealed class SettleEverything : IEventProcessor
    {
        public Task<EventFate> ProcessAsync(int partition, ReadEvent logEvent, CancellationToken cancellationToken = default) =>
            Task.FromResult(EventFate.Delivered);
    }

    private sealed class Columns : ManualConfig
    {
        public Columns() => AddColumn(new ItemsPerSecondColumn("Events/s", "log events drained per second", c => c.Parameters["EventBytes"] is int bytes ? BacklogBytes / bytes : null));
    }
}
