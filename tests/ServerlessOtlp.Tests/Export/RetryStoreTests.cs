using System.Collections.Concurrent;
using Azure.Storage.Blobs;
using Google.Protobuf;
using Microsoft.Extensions.Time.Testing;
using OpenTelemetry.Proto.Collector.Trace.V1;
using ServerlessOtlp.Export;
using ServerlessOtlp.Export.Otlp;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Export;

/// <summary>The retry store on Azurite, its drainer, and how the tenant pipeline settles each destination's outcome.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class RetryStoreTests(AzuriteFixture azurite)
{
    private static readonly DestinationConfig Fast = new() { Name = "fast", Kind = OtlpDestination.KindName, Signals = [Signal.Traces], Endpoint = "http://fast:4317" };
    private static readonly DestinationConfig Down = new() { Name = "down", Kind = OtlpHttpDestination.KindName, Signals = [Signal.Traces], Endpoint = "http://down:4318" };

    private static readonly ExportResilienceOptions QuickOptions = new()
    {
        InitialInterval = TimeSpan.FromMilliseconds(10),
        MaxInterval = TimeSpan.FromMilliseconds(50),
        InlineBudget = TimeSpan.FromMilliseconds(400),
        BreakerMinimumThroughput = 1000,
    };

    private (RetryStore Retry, DeadLetterStore Dead) Stores(TimeProvider? time = null)
    {
        var blobs = new BlobServiceClient(azurite.ConnectionString);
        string suffix = Guid.NewGuid().ToString("N")[..12];
        return (new RetryStore(blobs.GetBlobContainerClient("retry-" + suffix), time), new DeadLetterStore(blobs.GetBlobContainerClient("dl-" + suffix)));
    }

    private static ReadEvent Event(string tenant, int index)
    {
        var (request, ids) = ExporterContractTests.TestRequest(index);
        return new ReadEvent(new LogPosition(index), new LogPosition(index + 1), new EventProperties(tenant, Signal.Traces, BodyCodec.Protobuf, ids.Count, DateTimeOffset.UtcNow, "test"), request.ToByteArray());
    }

    [Fact]
    public async Task A_down_destination_is_parked_and_never_delays_the_other_destination()
    {
        var (retry, dead) = Stores();
        await retry.EnsureCreatedAsync();
        await dead.EnsureCreatedAsync();
        // The down destination (listed first) answers only once the healthy one has been called, or
        // when its attempt is cut off: were deliveries one after the other, it would never see that call.
        var fastCalled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bool fastCameFirst = false;
        var fast = new RecordingExporter(OtlpDestination.KindName, _ =>
        {
            fastCalled.TrySetResult();
            return ExportOutcome.Ok;
        });
        var down = new GatedExporter(OtlpHttpDestination.KindName, async ct =>
        {
            try
            {
                await fastCalled.Task.WaitAsync(ct);
                fastCameFirst = true;
            }
            catch (OperationCanceledException)
            {
            }

            return ExportOutcome.Transient("HTTP 503");
        });
        var tenants = new InMemoryTenantDirectory(new TenantFile { Tenants = [new TenantConfig { Id = "acme", Destinations = [Down, Fast] }] });
        var processor = new TenantEventProcessor(tenants, new ResilientExporter([fast, down], QuickOptions), dead, retry);

        var fate = await processor.ProcessAsync(3, Event("acme", 0));

        Assert.Equal(EventFate.Delivered, fate); // settled: the checkpoint moves on
        Assert.True(fastCameFirst, "the healthy destination waited for the failing one");
        Assert.Single(fast.Calls);
        var parked = Assert.Single(await retry.ListAsync("acme", "down"));
        Assert.Equal(Signal.Traces, parked.Signal);
        Assert.Equal(1, parked.Attempts);
        Assert.Contains("503", parked.LastError, StringComparison.Ordinal);
        Assert.Empty(await retry.ListAsync("acme", "fast"));
        Assert.Equal(1, processor.ParkedTotal);

        var stats = Assert.Single(await retry.GetStatsAsync());
        Assert.Equal(("acme", "down", 1), (stats.Tenant, stats.Destination, stats.Count));
        Assert.True(stats.Bytes > 0);
    }

    [Fact]
    public async Task When_parking_fails_the_drain_retries_later()
    {
        var (_, dead) = Stores();
        await dead.EnsureCreatedAsync();
        var down = new RecordingExporter(OtlpHttpDestination.KindName, _ => ExportOutcome.Transient("HTTP 503"));
        var tenants = new InMemoryTenantDirectory(new TenantFile { Tenants = [new TenantConfig { Id = "acme", Destinations = [Down] }] });
        var processor = new TenantEventProcessor(tenants, new ResilientExporter([down], QuickOptions), dead, new BrokenRetryStore());
        Assert.Equal(EventFate.RetryLater, await processor.ProcessAsync(0, Event("acme", 0)));
    }

    [Fact]
    public async Task Permanent_refusals_are_dead_lettered_with_their_destination()
    {
        var (retry, dead) = Stores();
        await retry.EnsureCreatedAsync();
        await dead.EnsureCreatedAsync();
        var refusing = new RecordingExporter(OtlpHttpDestination.KindName, _ => ExportOutcome.Permanent("HTTP 400 Bad Request"));
        var fast = new RecordingExporter(OtlpDestination.KindName, _ => ExportOutcome.Ok);
        var tenants = new InMemoryTenantDirectory(new TenantFile { Tenants = [new TenantConfig { Id = "acme", Destinations = [Down, Fast] }] });
        var processor = new TenantEventProcessor(tenants, new ResilientExporter([refusing, fast], QuickOptions), dead, retry);

        Assert.Equal(EventFate.DeadLettered, await processor.ProcessAsync(0, Event("acme", 0)));
        var letter = Assert.Single(await dead.ListAsync("acme"));
        Assert.Equal("down", letter.Destination);
        Assert.Contains("400", letter.Reason, StringComparison.Ordinal);
        Assert.Single(fast.Calls);
        Assert.Single(refusing.Calls);
    }

    [Fact]
    public async Task The_drainer_resends_oldest_first_deletes_on_success_and_stops_at_the_first_failure()
    {
        var (retry, dead) = Stores();
        await retry.EnsureCreatedAsync();
        await dead.EnsureCreatedAsync();
        var now = DateTimeOffset.UtcNow;
        for (int i = 2; i >= 0; i--)
        {
            var (request, _) = ExporterContractTests.TestRequest(i);
            await retry.WriteAsync("acme", "down", Signal.Traces, request.ToByteArray(), now.AddMinutes(-i), 1, "HTTP 503");
        }

        var order = new ConcurrentQueue<string>();
        bool healthy = false;
        var backend = new RecordingExporter(OtlpHttpDestination.KindName, r =>
        {
            if (!healthy)
            {
                return ExportOutcome.Transient("still down");
            }

            order.Enqueue(OtlpTestReceiver.Ids((ExportTraceServiceRequest)r.Message).First());
            return ExportOutcome.Ok;
        });
        var tenants = new InMemoryTenantDirectory(new TenantFile { Tenants = [new TenantConfig { Id = "acme", Destinations = [Down] }] });
        var exporter = new ResilientExporter([backend], QuickOptions);
        var drainer = new RetryStoreDrainer(retry, exporter, tenants, dead);

        Assert.Equal(0, await drainer.DrainOnceAsync());
        var entries = await retry.ListAsync();
        Assert.Equal(3, entries.Count);
        Assert.Equal(2, entries[0].Attempts); // the oldest was tried (once more) and kept
        Assert.Equal(1, entries[1].Attempts); // the others were not tried behind it

        healthy = true;
        Assert.Equal(3, await drainer.DrainOnceAsync());
        Assert.Equal(["r2-s0", "r1-s0", "r0-s0"], order.ToArray());
        Assert.Empty(await retry.ListAsync());
        Assert.Empty(await dead.ListAsync());
    }

    [Fact]
    public async Task Expired_or_orphaned_entries_and_permanent_refusals_go_to_the_dead_letter_store()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var (retry, dead) = Stores(time);
        await retry.EnsureCreatedAsync();
        await dead.EnsureCreatedAsync();
        var body = ExporterContractTests.TestRequest(0).Request.ToByteArray();
        await retry.WriteAsync("acme", "down", Signal.Traces, body, time.GetUtcNow().AddHours(-25), 40, "HTTP 503");
        await retry.WriteAsync("acme", "gone", Signal.Traces, body, time.GetUtcNow(), 1, "HTTP 503");
        await retry.WriteAsync("acme", "refusing", Signal.Traces, body, time.GetUtcNow(), 1, "HTTP 503");

        var stats = (await retry.GetStatsAsync()).ToDictionary(s => s.Destination);
        Assert.Equal(3, stats.Count);
        Assert.InRange(stats["down"].OldestAge, TimeSpan.FromHours(25), TimeSpan.FromHours(25.1));

        var refusing = Down with { Name = "refusing" };
        var backend = new RecordingExporter(OtlpHttpDestination.KindName, r => r.Destination.Name == "refusing" ? ExportOutcome.Permanent("HTTP 413") : ExportOutcome.Ok);
        var tenants = new InMemoryTenantDirectory(new TenantFile { Tenants = [new TenantConfig { Id = "acme", Destinations = [Down, refusing] }] });
        var drainer = new RetryStoreDrainer(retry, new ResilientExporter([backend], QuickOptions), tenants, dead, new RetryStoreOptions { MaxAge = TimeSpan.FromHours(24) }, time);

        Assert.Equal(3, await drainer.DrainOnceAsync());
        Assert.Empty(await retry.ListAsync());
        var letters = (await dead.ListAsync("acme")).ToDictionary(l => l.Destination!);
        Assert.Contains("undelivered after 25", letters["down"].Reason, StringComparison.Ordinal);
        Assert.Contains("no longer configured", letters["gone"].Reason, StringComparison.Ordinal);
        Assert.Contains("413", letters["refusing"].Reason, StringComparison.Ordinal);
        Assert.Single(backend.Calls); // only "refusing" was sent: the expired one was not
    }

    [Fact]
    public async Task Two_drainers_never_send_the_same_entry()
    {
        var (retry, dead) = Stores();
        await retry.EnsureCreatedAsync();
        await dead.EnsureCreatedAsync();
        for (int i = 0; i < 10; i++)
        {
            await retry.WriteAsync("acme", "down", Signal.Traces, ExporterContractTests.TestRequest(i).Request.ToByteArray(), DateTimeOffset.UtcNow.AddSeconds(i), 1, "x");
        }

        var sent = new ConcurrentBag<string>();
        var backend = new RecordingExporter(OtlpHttpDestination.KindName, r =>
        {
            sent.Add(OtlpTestReceiver.Ids((ExportTraceServiceRequest)r.Message).First());
            return ExportOutcome.Ok;
        });
        var tenants = new InMemoryTenantDirectory(new TenantFile { Tenants = [new TenantConfig { Id = "acme", Destinations = [Down] }] });
        var exporter = new ResilientExporter([backend], QuickOptions);
        var a = new RetryStoreDrainer(retry, exporter, tenants, dead);
        var b = new RetryStoreDrainer(retry, exporter, tenants, dead);
        for (int round = 0; round < 20 && (await retry.ListAsync()).Count > 0; round++)
        {
            await Task.WhenAll(a.DrainOnceAsync(), b.DrainOnceAsync());
        }

        Assert.Empty(await retry.ListAsync());
        Assert.Equal(10, sent.Count);
        Assert.Equal(10, sent.Distinct().Count());
    }

    private sealed class BrokenRetryStore : RetryStore
    {
        public override Task<string> WriteAsync(string tenant, string destination, Signal signal, ReadOnlyMemory<byte> protobuf, DateTimeOffset firstFailure, int attempts, string lastError, CancellationToken cancellationToken = default) =>
            throw new IOException("storage unreachable");
    }

    private sealed class GatedExporter(string kind, Func<CancellationToken, Task<ExportOutcome>> answer) : IDestinationExporter
    {
        public string Kind => kind;

        public async Task<ExportOutcome> ExportAsync(ExportRequest request, CancellationToken cancellationToken = default)
        {
            await Task.Yield();
            return await answer(cancellationToken);
        }
    }

    private sealed class RecordingExporter(string kind, Func<ExportRequest, ExportOutcome> answer) : IDestinationExporter
    {
        public ConcurrentQueue<DateTimeOffset> CallQueue { get; } = new();

        public IReadOnlyList<DateTimeOffset> Calls => CallQueue.ToArray();

        public string Kind => kind;

        public Task<ExportOutcome> ExportAsync(ExportRequest request, CancellationToken cancellationToken = default)
        {
            CallQueue.Enqueue(DateTimeOffset.UtcNow);
            return Task.FromResult(answer(request));
        }
    }
}
