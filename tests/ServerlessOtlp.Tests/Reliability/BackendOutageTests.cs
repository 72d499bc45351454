using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Polly.CircuitBreaker;
using ServerlessOtlp.Export;
using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Cli;
using ServerlessOtlp.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ServerlessOtlp.Tests.Reliability;

/// <summary>
/// A backend outage end to end: the real gateway and the real local runner (drain, tenant
/// pipeline, per-destination resilience pipelines, retry store and its drainer) over a blob log
/// on Azurite, on a fake clock. Tenant A's destination answers UNAVAILABLE for 5 minutes (Polly's
/// chaos strategy, innermost, so the real retry and breaker see it) while tenant B shares the
/// partitions. B keeps flowing, A's batches are parked durably instead of held, A's breaker opens
/// and closes again, the retry store drains by itself after the recovery, and nothing is lost.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class BackendOutageTests(AzuriteFixture azurite, ITestOutputHelper output)
{
    private const string Destination = "files";
    private static readonly TimeSpan Outage = TimeSpan.FromMinutes(5);

    /// <summary>One fake-clock step; small enough that a real file write fits in the 4 s (fake) attempt timeout many times over.</summary>
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(50);

    private static TenantConfig Tenant(string id, string key, string dir) => new()
    {
        Id = id,
        ApiKeys = [key],
        Destinations = [new DestinationConfig { Name = Destination, Kind = FileDestination.KindName, Signals = [Signal.Traces], Settings = new FileSettings { Path = dir } }],
    };

    [Fact]
    public async Task A_destination_down_for_five_minutes_is_parked_and_redelivered_while_the_other_tenant_keeps_flowing()
    {
        string run = Guid.NewGuid().ToString("N")[..6];
        string a = "outage-a-" + run, b = "outage-b-" + run;
        string keyA = CliTestData.NewKey(), keyB = CliTestData.NewKey();
        string root = CliTestData.TempDir("outage");
        string dirA = Path.Combine(root, "a"), dirB = Path.Combine(root, "b");
        var tenants = new InMemoryTenantDirectory(new TenantFile { Tenants = [Tenant(a, keyA, dirA), Tenant(b, keyB, dirB)] });

        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var recovery = time.GetUtcNow() + Outage;
        var export = ServerlessOtlp.Tests.Export.TestEgress.Local with
        {
            Resilience = new ExportResilienceOptions
            {
                Chaos = new ExportChaosOptions
                {
                    Enabled = true,
                    OutcomeRate = 1,
                    Outcome = ExportOutcome.Transient("UNAVAILABLE (chaos: backend outage)"),
                    Target = (tenant, _) => tenant == a && time.GetUtcNow() < recovery,
                },
            },
        };

        var storage = azurite.IsolatedStorage();
        await storage.Blobs.GetBlobContainerClient(storage.Names.LogContainer).CreateIfNotExistsAsync();
        // Traces are partitioned by trace id: both tenants' data lands on both partitions.
        var log = new BlobLog(storage.Blobs.GetBlobContainerClient(storage.Names.LogContainer), new BlobLogOptions { Name = "outage" + run, Partitions = 2 });
        await using var gateway = await InProcessGateway.StartAsync(log, tenants);
        var services = await ProcessingServices.CreateAsync(log, storage, tenants, new DrainOptions(), NullLoggerFactory.Instance, export, time);
        var processor = (TenantEventProcessor)services.Processor;
        using var stop = new CancellationTokenSource();
        var runner = new LocalRunner(services, new LocalRunnerOptions()).RunAsync(stop.Token);

        var checkerA = new LossChecker();
        var checkerB = new LossChecker();
        using var clientA = new RetryingClient(gateway.GrpcUri, keyA, checkerA, "a");
        using var clientB = new RetryingClient(gateway.GrpcUri, keyB, checkerB, "b");
        var seen = new HashSet<CircuitState>();
        var seenB = new HashSet<CircuitState>();
        var start = time.GetUtcNow();
        TimeSpan Now() => time.GetUtcNow() - start;

        async Task Tick(int steps = 1)
        {
            time.Advance(Step * steps);
            seen.Add(services.Exporter.BreakerState(a, Destination));
            seenB.Add(services.Exporter.BreakerState(b, Destination));
            await Task.Delay(2);
        }

        try
        {
            // 0:00–3:30: both tenants send every 10 s (fake).
            var nextSend = TimeSpan.Zero;
            while (Now() < TimeSpan.FromSeconds(210))
            {
                if (Now() >= nextSend)
                {
                    Assert.Equal(StatusCode.OK, await clientA.SendAsync(10));
                    Assert.Equal(StatusCode.OK, await clientB.SendAsync(10));
                    nextSend += TimeSpan.FromSeconds(10);
                }

                await Tick();
            }

            // Before the recovery: B has all arrived, A's batches sit in the retry store, and the
            // drain is caught up on every partition, i.e. nothing of A is held in memory.
            bool settled = false;
            int parkedA = 0;
            while (time.GetUtcNow() < recovery - TimeSpan.FromSeconds(5) && !settled)
            {
                checkerB.ReadDelivered(dirB);
                checkerA.ReadDelivered(dirA);
                parkedA = (await services.RetryStore.ListAsync(a)).Count;
                settled = checkerB.AllAcknowledgedArrived()
                    && checkerA.Delivered.Count == 0
                    && parkedA > 0 && parkedA == processor.ParkedTotal
                    && await CaughtUpAsync(services);
                for (int i = 0; i < 20; i++)
                {
                    await Tick();
                }
            }

            var stats = await services.RetryStore.GetStatsAsync();
            output.WriteLine($"at {Now():m\\:ss} (outage until {Outage:m\\:ss}): B delivered {checkerB.Delivered.Count}/{checkerB.AcceptedCount}, A delivered {checkerA.Delivered.Count}, " +
                $"A parked {parkedA} batches ({stats.Where(s => s.Tenant == a).Sum(s => s.Bytes)} bytes), breaker states seen for A: {string.Join(", ", seen)}");
            Assert.True(checkerB.AllAcknowledgedArrived(), "B's data did not keep flowing during A's outage");
            Assert.Empty(checkerA.Delivered);
            Assert.True(parkedA > 0, "nothing of A was parked");
            Assert.Equal(processor.ParkedTotal, parkedA);
            Assert.DoesNotContain(stats, s => s.Tenant == b);
            Assert.True(await CaughtUpAsync(services), "the drain held back events during the outage instead of parking them");
            Assert.Contains(CircuitState.Open, seen);
            Assert.Equal([CircuitState.Closed], seenB);

            // Nothing is sent until the recovery: only breaker probes and retry-store rounds, all refused at once, so larger steps.
            while (time.GetUtcNow() < recovery)
            {
                await Tick(5);
            }

            // The destination recovers; nobody redrives: the runner's retry-store loop delivers the backlog.
            while (time.GetUtcNow() < recovery + TimeSpan.FromMinutes(2))
            {
                for (int i = 0; i < 20; i++)
                {
                    await Tick();
                }

                if (time.GetUtcNow() > recovery
                    && (await services.RetryStore.ListAsync(a)).Count == 0
                    && services.Exporter.BreakerState(a, Destination) == CircuitState.Closed)
                {
                    checkerA.ReadDelivered(dirA);
                    if (checkerA.AllAcknowledgedArrived())
                    {
                        break;
                    }
                }
            }

            output.WriteLine($"retry store of A empty and breaker {services.Exporter.BreakerState(a, Destination)} at {Now():m\\:ss}");
            Assert.Empty(await services.RetryStore.ListAsync(a));
            Assert.Equal(CircuitState.Closed, services.Exporter.BreakerState(a, Destination));
        }
        finally
        {
            await stop.CancelAsync();
            await runner;
        }

        checkerA.ReadDelivered(dirA);
        checkerB.ReadDelivered(dirB);
        await checkerA.ReadDeadLettersAsync(services.DeadLetters, a);
        await checkerB.ReadDeadLettersAsync(services.DeadLetters, b);
        var reportA = checkerA.Check();
        var reportB = checkerB.Check();
        output.WriteLine($"A: {reportA}\nB: {reportB}");
        reportA.AssertNoLoss();
        reportB.AssertNoLoss();
        Assert.Equal(0, reportA.DeadLettered); // an outage is transient: redelivered, never dead-lettered
        Assert.Equal(0, reportB.DeadLettered);
        Assert.Equal(checkerA.AcceptedCount, reportA.Delivered);
    }

    /// <summary>Every partition's checkpoint is at the log's end.</summary>
    private static async Task<bool> CaughtUpAsync(ProcessingServices services)
    {
        for (int p = 0; p < services.Log.PartitionCount; p++)
        {
            var end = await services.Log.GetEndAsync(p);
            var checkpoint = await services.Checkpoints.ReadAsync(services.Log.Name, services.Drain.ConsumerGroup, p);
            if (services.Log.Lag(new LogPosition(checkpoint.Position), end) > 0)
            {
                return false;
            }
        }

        return true;
    }
}
