using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Trace.V1;
using ServerlessOtlp.Export;
using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Tests.Processing;

/// <summary>
/// One test's processing world on the collection's Azurite: its own log container, tables and
/// dead-letter container, a tenant "acme" with a file destination in a temp directory.
/// </summary>
internal sealed partial class DrainTestContext : IDisposable
{
    public const string Tenant = "acme";

    private DrainTestContext(string connectionString, int partitions)
    {
        ConnectionString = connectionString;
        string id = Guid.NewGuid().ToString("N")[..12];
        Blobs = new BlobServiceClient(connectionString);
        Tables = Storage.TableTestContext.Service(connectionString);
        LogContainer = Blobs.GetBlobContainerClient("log" + id);
        LogOptions = new BlobLogOptions { Name = "t" + id, Partitions = partitions };
        Log = NewLog();
        Checkpoints = new CheckpointStore(Tables, "cp" + id);
        Leases = new LeaseStore(Tables, "ls" + id);
        Nodes = new NodeStore(Tables, "nd" + id);
        DeadLetters = new DeadLetterStore(Blobs.GetBlobContainerClient("dl" + id));
        OutputDir = Directory.CreateTempSubdirectory("drain-test-").FullName;
        Tenants = new InMemoryTenantDirectory(new TenantFile
        {
            Tenants =
            [
                new TenantConfig
                {
                    Id = Tenant,
                    Destinations = [new DestinationConfig { Name = "out", Kind = FileDestination.KindName, Signals = [Signal.Traces], Settings = new FileSettings { Path = OutputDir } }],
                },
            ],
        });
    }

    public string ConnectionString { get; }

    /// <summary>A fresh queue on Azurite with drain jobs on it, their pending markers in this context's leases table (consumer group <c>$Default</c>).</summary>
    public async Task<(QueueClient Queue, StorageQueueDrainJobs Jobs)> QueueJobsAsync()
    {
        var queue = new QueueServiceClient(ConnectionString, new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None })
            .GetQueueClient("q" + Guid.NewGuid().ToString("N"));
        await queue.CreateIfNotExistsAsync();
        return (queue, new StorageQueueDrainJobs(queue, Tables.GetTableClient(Leases.TableName), Log.Name, "$Default"));
    }

    public BlobServiceClient Blobs { get; }

    public TableServiceClient Tables { get; }

    public BlobContainerClient LogContainer { get; }

    public BlobLogOptions LogOptions { get; }

    /// <summary>The writer's view of the log; drainers get their own instance (<see cref="NewLog"/>), as separate processes would.</summary>
    public BlobLog Log { get; }

    public CheckpointStore Checkpoints { get; }

    public LeaseStore Leases { get; }

    public NodeStore Nodes { get; }

    public DeadLetterStore DeadLetters { get; }

    public string OutputDir { get; }

    public InMemoryTenantDirectory Tenants { get; }

    public static async Task<DrainTestContext> CreateAsync(string connectionString, int partitions = 1)
    {
        var context = new DrainTestContext(connectionString, partitions);
        await context.Log.OpenAsync();
        await context.Checkpoints.EnsureCreatedAsync();
        await context.Leases.EnsureCreatedAsync();
        await context.Nodes.EnsureCreatedAsync();
        await context.DeadLetters.EnsureCreatedAsync();
        return context;
    }

    public BlobLog NewLog() => new(LogContainer, new BlobLogOptions { Name = LogOptions.Name, Partitions = LogOptions.Partitions });

    /// <summary>Fast settings for tests: short idle and poll, a small batch.</summary>
    public static DrainOptions Options(string owner, Action<DrainOptions>? configure = null)
    {
        var options = new DrainOptions
        {
            OwnerId = owner,
            LeaseTtl = TimeSpan.FromSeconds(10),
            ExportTimeout = TimeSpan.FromSeconds(2),
            IdleTimeout = TimeSpan.FromMilliseconds(300),
            PollInterval = TimeSpan.FromMilliseconds(50),
            BatchMaxEvents = 10,
        };
        configure?.Invoke(options);
        return options;
    }

    public TenantEventProcessor FileProcessor() => new(Tenants, [new FileExporter(ServerlessOtlp.Tests.Export.TestEgress.Local.Files)], DeadLetters);

    public async Task<DrainEngine> EngineAsync(DrainOptions options, IEventProcessor? processor = null, TimeProvider? time = null, DrainMetrics? metrics = null)
    {
        var log = NewLog();
        await log.OpenAsync();
        return new DrainEngine(log, Checkpoints, Leases, processor ?? FileProcessor(), DeadLetters, options, time: time, metrics: metrics);
    }

    /// <summary>Appends one event per span, each span named <c>span-{n}</c>.</summary>
    public async Task AppendSpansAsync(int partition, int first, int count)
    {
        var events = new List<LogEvent>(count);
        for (int n = first; n < first + count; n++)
        {
            events.Add(Event(SpanBody(n)));
        }

        await Log.AppendAsync(partition, events);
    }

    /// <summary>
    /// Processing services over a memory log of two partitions (with these events appended to partition 0 and 1) on
    /// isolated tables of <paramref name="azurite"/>, for a local runner: tenant <see cref="Tenant"/> writes its traces
    /// to the file destination in <paramref name="dir"/>.
    /// </summary>
    public static async Task<(ProcessingServices Services, MemoryLog Log)> LocalServicesAsync(Infrastructure.AzuriteFixture azurite, string dir, string name, int[] spansPerPartition)
    {
        var tenants = new InMemoryTenantDirectory(new TenantFile
        {
            Tenants = [new TenantConfig { Id = Tenant, Destinations = [new DestinationConfig { Name = "files", Kind = FileDestination.KindName, Signals = [Signal.Traces], Settings = new FileSettings { Path = dir } }] }],
        });
        var log = new MemoryLog(2, name + "-" + Guid.NewGuid().ToString("N")[..8]);
        int n = 1;
        for (int partition = 0; partition < spansPerPartition.Length; partition++)
        {
            await log.AppendAsync(partition, [.. Enumerable.Range(0, spansPerPartition[partition]).Select(_ => Event(SpanBody(n++)))]);
        }

        var services = await ProcessingServices.CreateAsync(log, azurite.IsolatedStorage(), tenants,
            Options(name + "-" + Guid.NewGuid().ToString("N")[..6]), Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, ServerlessOtlp.Tests.Export.TestEgress.Local);
        return (services, log);
    }

    public static LogEvent Event(byte[] body, string tenant = Tenant) =>
        new(new EventProperties(tenant, Signal.Traces, BodyCodec.Protobuf, 1, DateTimeOffset.UtcNow, "test-gateway"), body);

    public static byte[] SpanBody(int n)
    {
        var span = new Span
        {
            TraceId = ByteString.CopyFrom(Guid.NewGuid().ToByteArray()),
            SpanId = ByteString.CopyFrom(BitConverter.GetBytes((long)n + 1)),
            Name = "span-" + n,
            StartTimeUnixNano = 1,
            EndTimeUnixNano = 2,
        };
        var request = new ExportTraceServiceRequest();
        request.ResourceSpans.Add(new ResourceSpans { ScopeSpans = { new ScopeSpans { Spans = { span } } } });
        return request.ToByteArray();
    }

    /// <summary>The span numbers in the file destination, with repeats.</summary>
    public List<int> Delivered()
    {
        string file = Path.Combine(OutputDir, "traces.jsonl");
        if (!File.Exists(file))
        {
            return [];
        }

        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return SpanName().Matches(reader.ReadToEnd()).Select(m => int.Parse(m.Groups[1].Value)).ToList();
    }

    /// <summary>Every event's position in a partition, in order (read from the start).</summary>
    public async Task<List<ReadEvent>> ReadAllAsync(int partition)
    {
        var log = NewLog();
        await log.OpenAsync();
        var all = new List<ReadEvent>();
        var from = LogPosition.Start;
        while (true)
        {
            var batch = await log.ReadAsync(partition, from, 1000, 64 * 1024 * 1024, FencingToken.None);
            all.AddRange(batch.Events);
            if (batch.Events.Count == 0)
            {
                return all;
            }

            from = batch.Next;
        }
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(OutputDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [GeneratedRegex("\"name\":\\s*\"span-(\\d+)\"")]
    private static partial Regex SpanName();
}

/// <summary>Wraps a processor: records what it delivered and how many ran at once per partition.</summary>
internal sealed class ProbeProcessor(IEventProcessor inner) : IEventProcessor
{
    private readonly ConcurrentDictionary<int, int> _inFlight = new();
    private int _maxConcurrent;

    public int MaxConcurrent => Volatile.Read(ref _maxConcurrent);

    public TimeSpan Delay { get; init; }

    public async Task<EventFate> ProcessAsync(int partition, ReadEvent logEvent, CancellationToken cancellationToken = default)
    {
        int now = _inFlight.AddOrUpdate(partition, 1, (_, n) => n + 1);
        InterlockedMax(ref _maxConcurrent, now);
        try
        {
            if (Delay > TimeSpan.Zero)
            {
                await Task.Delay(Delay, cancellationToken);
            }

            return await inner.ProcessAsync(partition, logEvent, cancellationToken);
        }
        finally
        {
            _inFlight.AddOrUpdate(partition, 0, (_, n) => n - 1);
        }
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }
}

/// <summary>
/// A drainer that freezes at one event, as a process does under SIGSTOP or a long GC pause: the
/// call never returns and ignores cancellation until the test lets it go.
/// </summary>
internal sealed class FreezingProcessor(IEventProcessor inner, int freezeAtSpan) : IEventProcessor
{
    private readonly TaskCompletionSource _frozen = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _thaw = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Frozen => _frozen.Task;

    public void Thaw() => _thaw.TrySetResult();

    public async Task<EventFate> ProcessAsync(int partition, ReadEvent logEvent, CancellationToken cancellationToken = default)
    {
        var request = ExportTraceServiceRequest.Parser.ParseFrom(logEvent.Body.Span);
        if (request.ResourceSpans[0].ScopeSpans[0].Spans[0].Name == "span-" + freezeAtSpan && !_thaw.Task.IsCompleted)
        {
            _frozen.TrySetResult();
            await _thaw.Task; // deliberately deaf to the token: a frozen process does not observe it
        }

        return await inner.ProcessAsync(partition, logEvent, CancellationToken.None);
    }
}
