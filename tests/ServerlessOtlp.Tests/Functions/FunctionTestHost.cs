using System.Collections.Concurrent;
using System.Net;
using System.Security.Claims;
using System.Text;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Http;
using Microsoft.Extensions.Logging.Abstractions;
using ServerlessOtlp.Export;
using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Functions;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Processing;

namespace ServerlessOtlp.Tests.Functions;

/// <summary>
/// The Functions' <see cref="ProcessingHost"/> as Program.cs builds it, but over a memory log with a
/// unique name (so rows in the shared tables do not collide) and a recording job queue.
/// </summary>
internal sealed class FunctionTestHost : IDisposable
{
    private FunctionTestHost(string connectionString, int partitions, Action<DrainOptions>? configure)
    {
        Log = new MemoryLog(partitions, "mem-" + Guid.NewGuid().ToString("N")[..12]);
        OutputDir = Directory.CreateTempSubdirectory("functions-test-").FullName;
        var tenants = new InMemoryTenantDirectory(new TenantFile
        {
            Tenants = [new TenantConfig { Id = DrainTestContext.Tenant, Destinations = [new DestinationConfig { Name = "out", Kind = FileDestination.KindName, Signals = [Signal.Traces], Settings = new FileSettings { Path = OutputDir } }] }],
        });
        Drain = DrainTestContext.Options("functions-" + Guid.NewGuid().ToString("N")[..8], configure);
        Host = new ProcessingHost(
            ct => ProcessingServices.CreateAsync(Log, new StorageClients(new StorageOptions { ConnectionString = connectionString, Names = Names }), tenants, Drain, NullLoggerFactory.Instance, ServerlessOtlp.Tests.Export.TestEgress.Local, ct),
            services => Jobs = new RecordingJobs(services),
            new FunctionsOptions(),
            new HealthOptions());
    }

    public MemoryLog Log { get; }

    /// <summary>This host's own tables, queue and containers on the shared Azurite.</summary>
    public ServerlessOtlp.Storage.StorageNames Names { get; } = ServerlessOtlp.Tests.Infrastructure.AzuriteFixture.UniqueNames();

    public string OutputDir { get; }

    public DrainOptions Drain { get; }

    public ProcessingHost Host { get; }

    public RecordingJobs Jobs { get; private set; } = null!;

    public static async Task<FunctionTestHost> CreateAsync(string connectionString, int partitions = 2, Action<DrainOptions>? configure = null)
    {
        var host = new FunctionTestHost(connectionString, partitions, configure);
        // No gateway pushes here: an idle drain's re-read of the log end need not wait for a gateway's cache.
        (await host.Host.GetAsync()).WaitBeforeRecheck = _ => Task.CompletedTask;
        return host;
    }

    public Task AppendSpansAsync(int partition, int first, int count) =>
        Log.AppendAsync(partition, Enumerable.Range(first, count).Select(n => DrainTestContext.Event(DrainTestContext.SpanBody(n))).ToList());

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
}

/// <summary>Records the jobs enqueued and whether the partition's lease was free at that moment.</summary>
internal sealed class RecordingJobs(ProcessingServices services) : IDrainJobQueue
{
    private readonly ConcurrentDictionary<string, bool> _pending = new(StringComparer.Ordinal);

    public ConcurrentQueue<(DrainJob Job, bool LeaseWasFree)> Enqueued { get; } = new();

    /// <summary>The visibility delay of each enqueued job, in order.</summary>
    public ConcurrentQueue<TimeSpan> Delays { get; } = new();

    public async Task<bool> TryEnqueueAsync(DrainJob job, TimeSpan delay, CancellationToken cancellationToken = default)
    {
        if (!_pending.TryAdd(job.PendingKey, true))
        {
            return false;
        }

        string group = job.Tenant is null ? services.Drain.ConsumerGroup : ReplayCursor.GroupOf(job.Tenant);
        var lease = await services.Leases.ReadAsync(services.Log.Name, group, job.Partition, cancellationToken);
        Enqueued.Enqueue((job, lease.IsClaimable));
        Delays.Enqueue(delay);
        return true;
    }

    public Task StartedAsync(DrainJob job, CancellationToken cancellationToken = default)
    {
        _pending.TryRemove(job.PendingKey, out _);
        return Task.CompletedTask;
    }
}

internal sealed class FakeFunctionContext : FunctionContext
{
    public override string InvocationId { get; } = Guid.NewGuid().ToString();

    public override string FunctionId { get; } = "test";

    public override TraceContext TraceContext => null!;

    public override BindingContext BindingContext => null!;

    public override RetryContext RetryContext => null!;

    public override IServiceProvider InstanceServices { get; set; } = null!;

    public override FunctionDefinition FunctionDefinition => null!;

    public override IDictionary<object, object> Items { get; set; } = new Dictionary<object, object>();

    public override IInvocationFeatures Features => null!;
}

internal sealed class FakeHttpRequest(string method, string url, string? body = null) : HttpRequestData(new FakeFunctionContext())
{
    public override Stream Body { get; } = new MemoryStream(Encoding.UTF8.GetBytes(body ?? ""));

    public override HttpHeadersCollection Headers { get; } = [];

    public override IReadOnlyCollection<IHttpCookie> Cookies { get; } = [];

    public override Uri Url { get; } = new(url);

    public override IEnumerable<ClaimsIdentity> Identities { get; } = [];

    public override string Method { get; } = method;

    public override HttpResponseData CreateResponse() => new FakeHttpResponse(FunctionContext);
}

internal sealed class FakeHttpResponse(FunctionContext context) : HttpResponseData(context)
{
    public override HttpStatusCode StatusCode { get; set; }

    public override HttpHeadersCollection Headers { get; set; } = [];

    public override Stream Body { get; set; } = new MemoryStream();

    public override HttpCookies Cookies => null!;

    public string ReadBody() => Encoding.UTF8.GetString(((MemoryStream)Body).ToArray());
}
