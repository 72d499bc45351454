using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using ServerlessOtlp.Client;
using ServerlessOtlp.Client.Implementation;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ServerlessOtlp.Tests.Client;

/// <summary>
/// The failover exporter against two real gateways on loopback: every span carries a unique
/// "uid", and the gateways' logs are read back to count where each one landed.
/// </summary>
public sealed class FailoverExporterTests(ITestOutputHelper output)
{
    internal static ServerlessOtlpExporterOptions Options(params LoopbackGateway[] gateways)
    {
        var options = new ServerlessOtlpExporterOptions { ApiKey = LoopbackGateway.Key, AttemptTimeout = TimeSpan.FromSeconds(5) };
        options.Endpoints.AddRange(gateways.Select(g => g.GrpcUri));
        options.Retry.Delay = TimeSpan.FromMilliseconds(20);
        options.CircuitBreaker.BreakDuration = TimeSpan.FromSeconds(1);
        return options;
    }

    [Fact]
    public async Task Stopping_the_preferred_gateway_moves_traffic_to_the_survivor_and_restarting_it_brings_it_back()
    {
        await using var preferred = await LoopbackGateway.StartNewAsync();
        await using var survivor = await LoopbackGateway.StartNewAsync();
        // The preferred gateway is in the client's own region: it takes every export while it is usable,
        // whatever the latencies, so the test depends on no timing.
        var options = Options();
        options.Region = "region-a";
        options.Gateways.Add(new ServerlessOtlpGatewayOptions { Endpoint = survivor.GrpcUri, Region = "region-b" });
        options.Gateways.Add(new ServerlessOtlpGatewayOptions { Endpoint = preferred.GrpcUri, Region = "region-a" });
        var exporter = ServerlessOtlpExporterExtensions.CreateTraceExporter(options);
        using var run = new SpanRun(exporter); // disposes the exporter
        using var producing = new CancellationTokenSource();
        var producer = run.ProduceAsync(producing.Token);

        await EventuallyAsync(() => preferred.SpanUids().Count >= 100, "no span reached the preferred gateway");
        run.Flush();
        Assert.Empty(survivor.SpanUids());
        Assert.Equal(0, exporter.Failovers);

        // Stop it while spans keep coming.
        await preferred.StopAsync();
        int stoppedAt = run.Sent;
        int preferredBefore = preferred.SpanUids().Count;
        await EventuallyAsync(() => survivor.SpanUids().Count >= 100, "no span reached the survivor");
        int checkedUpTo = run.Sent; // the flush covers what was emitted before it began
        run.Flush();
        var afterStop = Enumerable.Range(stoppedAt, checkedUpTo - stoppedAt).Select(run.Uid).ToList();
        Assert.NotEmpty(afterStop);
        Assert.Equal(preferredBefore, preferred.SpanUids().Count);
        await EventuallyAsync(() => afterStop.All(survivor.SpanUids().ToHashSet().Contains), "spans sent after the stop are missing on the survivor");
        Assert.True(exporter.Failovers > 0, "the stopped gateway was never tried first");
        // Its circuit opens once MinimumThroughput attempts have failed: how many batches that took depends on
        // how fast this machine produced them, so wait for it while spans keep coming.
        await EventuallyAsync(() => exporter.Endpoints.Single(e => e.Uri == preferred.GrpcUri).Health != EndpointHealth.Healthy, "the stopped gateway's circuit never opened");

        // Start it again on the same ports: once its break is over it gets the trial (before the other
        // region), the trial closes its circuit, and it takes the traffic back.
        await preferred.StartAsync();
        await EventuallyAsync(() => preferred.SpanUids().Count > preferredBefore, "no traffic came back to the restarted gateway", TimeSpan.FromSeconds(60));
        await EventuallyAsync(() => exporter.Endpoints.Single(e => e.Uri == preferred.GrpcUri).Health == EndpointHealth.Healthy, "the restarted gateway's circuit did not close");
        int windowStart = run.Sent;
        await EventuallyAsync(() => run.Sent >= windowStart + 200, "the producer stalled");
        int windowEnd = run.Sent;
        run.Flush();
        var window = Enumerable.Range(windowStart, windowEnd - windowStart).Select(run.Uid).ToList();
        await EventuallyAsync(() => window.All(preferred.SpanUids().Concat(survivor.SpanUids()).ToHashSet().Contains), "spans of the window are missing");
        var onRestarted = preferred.SpanUids().ToHashSet();
        int inWindow = window.Count(onRestarted.Contains);
        output.WriteLine($"{inWindow} of {window.Count} spans after the circuit closed went to the restarted gateway");
        Assert.Equal(window.Count, inWindow);

        await producing.CancelAsync();
        await producer;
        run.Flush();
        await EventuallyAsync(() => Enumerable.Range(0, run.Sent).Select(run.Uid).All(preferred.SpanUids().Concat(survivor.SpanUids()).ToHashSet().Contains), "spans are missing at the end");

        // Nothing lost: every span is in one of the logs (at least once; a request cut by the stop may be sent twice).
        var all = preferred.SpanUids(out var services).Concat(survivor.SpanUids()).ToHashSet();
        var missing = Enumerable.Range(0, run.Sent).Select(run.Uid).Where(u => !all.Contains(u)).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} of {run.Sent} spans lost, e.g. {string.Join(", ", missing.Take(5))}");
        Assert.Equal(0, exporter.DroppedItems);
        Assert.Equal(0, exporter.BufferedItems);
        // The resource reaches the gateways although the SDK exporters are not attached to the provider.
        Assert.All(services, s => Assert.Equal(run.ServiceName, s));

        // The public health view says where things stand.
        var health = ServerlessOtlpHealth.GetHealth().Where(h => h.Endpoint == preferred.GrpcUri || h.Endpoint == survivor.GrpcUri).ToList();
        Assert.Contains(health, h => h.Endpoint == preferred.GrpcUri && h.Region == "region-a" && h.Local && h.State == ServerlessOtlpEndpointState.Healthy);
        Assert.Contains(health, h => h.Endpoint == survivor.GrpcUri && h.Region == "region-b" && !h.Local);
    }

    [Fact]
    public async Task With_a_delay_on_one_endpoint_exports_go_to_the_faster_one_but_for_warm_up_and_scheduled_probes()
    {
        await using var slow = await LoopbackGateway.StartNewAsync();
        await using var fast = await LoopbackGateway.StartNewAsync();
        // Endpoints and key from configuration, as an application sets them; the delay from code.
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ServerlessOtlp:Endpoints:0"] = slow.GrpcUri.ToString(),
            ["ServerlessOtlp:Endpoints:1"] = fast.GrpcUri.ToString(),
            ["ServerlessOtlp:ApiKey"] = LoopbackGateway.Key,
        }).Build();
        string name = "client-latency-" + Guid.NewGuid().ToString("N");
        using var source = new ActivitySource(name);
        const double probeShare = 0.05;
        using var provider = Sdk.CreateTracerProviderBuilder()
            .ConfigureServices(s => s.AddSingleton<IConfiguration>(configuration))
            .AddSource(name)
            .SetSampler(new AlwaysOnSampler())
            .AddServerlessOtlpExporter(o =>
            {
                // Latency is measured on a clock that moves only by the injected delay, so the network's
                // own (machine-dependent) time counts zero: the slow endpoint measures exactly 100 ms.
                o.TimeProvider = new InstantTimeProvider();
                o.InjectedLatency[slow.GrpcUri.ToString()] = TimeSpan.FromMilliseconds(100);
                o.ScheduledDelay = TimeSpan.FromMinutes(10);
                o.ProbeShare = probeShare;
            })
            .Build();

        const int exports = 60, spansPerExport = 5;
        for (int e = 0; e < exports; e++)
        {
            for (int s = 0; s < spansPerExport; s++)
            {
                using var activity = source.StartActivity("op", ActivityKind.Internal, parentContext: default)!;
                activity.SetTag("uid", $"{e}-{s}");
            }

            Assert.True(provider.ForceFlush(10_000));
        }

        await EventuallyAsync(() => slow.SpanUids().Count + fast.SpanUids().Count >= exports * spansPerExport, "spans are missing");
        int onSlow = slow.SpanUids().Count, onFast = fast.SpanUids().Count;
        output.WriteLine($"slow {onSlow}, fast {onFast}");
        Assert.Equal(exports * spansPerExport, onSlow + onFast);
        // The slow endpoint gets the first two exports (configuration order while nothing is measured; the
        // average starts at the second success), then one scheduled probe every 1 / ProbeShare exports.
        int probes = exports / (int)Math.Round(1 / probeShare);
        Assert.Equal((2 + probes) * spansPerExport, onSlow);
    }

    [Fact]
    public async Task When_every_endpoint_is_down_the_buffer_keeps_the_newest_items_counts_the_rest_and_sends_them_later()
    {
        var first = new LoopbackGateway();
        await using var second = new LoopbackGateway();
        var options = Options(first, second);
        options.BufferCapacity = 30;
        options.Retry.MaxRetryAttempts = 0;
        var exporter = ServerlessOtlpExporterExtensions.CreateTraceExporter(options);
        using var run = new SpanRun(exporter); // disposes the exporter
        for (int i = 0; i < 10; i++)
        {
            run.Emit(10);
            run.Flush();
        }

        await EventuallyAsync(() => exporter.DroppedItems == 70, "70 items should have been dropped");
        Assert.Equal(70, exporter.DroppedItems);
        Assert.Equal(30, exporter.BufferedItems);

        await second.StartAsync();
        var deadline = Stopwatch.StartNew();
        while (exporter.BufferedItems > 0 && deadline.Elapsed < TimeSpan.FromSeconds(20))
        {
            exporter.ForceFlush(5_000);
            await Task.Delay(100);
        }

        var received = second.SpanUids();
        Assert.Equal(Enumerable.Range(70, 30).Select(run.Uid).Order(), received.Order());
        Assert.Equal(70, exporter.DroppedItems);
    }

    [Fact]
    public async Task Log_records_fail_over_with_their_content()
    {
        var down = new LoopbackGateway();
        await using var up = await LoopbackGateway.StartNewAsync();
        var services = new ServiceCollection();
        services.AddLogging(b => b.AddOpenTelemetry(o =>
        {
            o.SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService("client-logs"));
            o.AddServerlessOtlpExporter(x =>
            {
                x.Endpoints.AddRange([down.GrpcUri, up.GrpcUri]);
                x.ApiKey = LoopbackGateway.Key;
                x.ProbeShare = 0;
                x.Retry.MaxRetryAttempts = 0;
            });
        }));
        const int records = 20;
        using (var sp = services.BuildServiceProvider())
        {
            var logger = sp.GetRequiredService<ILoggerFactory>().CreateLogger("client");
            for (int i = 0; i < records; i++)
            {
                logger.LogWarning("record {Uid}", i);
            }

            Assert.True(sp.GetRequiredService<LoggerProvider>().ForceFlush(15_000));
        }

        var uids = new List<long>();
        for (int p = 0; p < up.Log.PartitionCount; p++)
        {
            foreach (var (props, body) in up.Log.Snapshot(p))
            {
                if (props.Signal != Signal.Logs)
                {
                    continue;
                }

                foreach (var rl in ExportLogsServiceRequest.Parser.ParseFrom(body).ResourceLogs)
                {
                    Assert.Contains(rl.Resource.Attributes, a => a.Key == "service.name" && a.Value.StringValue == "client-logs");
                    foreach (var record in rl.ScopeLogs.SelectMany(s => s.LogRecords))
                    {
                        Assert.Equal(OpenTelemetry.Proto.Logs.V1.SeverityNumber.Warn, record.SeverityNumber);
                        uids.Add(record.Attributes.Single(a => a.Key == "Uid").Value.IntValue);
                    }
                }
            }
        }

        Assert.Equal(Enumerable.Range(0, records).Select(i => (long)i), uids.Order());
    }

    /// <summary>
    /// Waits for the event (exports in flight: the batch processor's ForceFlush returns once the items
    /// left its queue, which can be before the export that took them has finished); fails with
    /// <paramref name="what"/> if it never comes.
    /// </summary>
    internal static async Task EventuallyAsync(Func<bool> condition, string what, TimeSpan? limit = null)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(deadline.Elapsed < (limit ?? TimeSpan.FromSeconds(30)), what);
            await Task.Delay(50);
        }
    }

    /// <summary>Spans with uids <c>{run}-{n}</c> through a batch processor over the exporter.</summary>
    internal sealed class SpanRun : IDisposable
    {
        private readonly ActivitySource _source;
        private readonly TracerProvider _provider;
        private readonly string _run = Guid.NewGuid().ToString("N")[..8];
        private int _sent;

        public SpanRun(BaseExporter<Activity> exporter)
        {
            ServiceName = "client-test-" + _run;
            _source = new ActivitySource(ServiceName);
            _provider = Sdk.CreateTracerProviderBuilder()
                .AddSource(_source.Name)
                .SetSampler(new AlwaysOnSampler())
                .SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService(ServiceName))
                .AddProcessor(new BatchActivityExportProcessor(exporter, maxQueueSize: 100_000, scheduledDelayMilliseconds: 20, exporterTimeoutMilliseconds: 30_000, maxExportBatchSize: 512))
                .Build()!;
        }

        public string ServiceName { get; }

        /// <summary>Spans emitted so far; uids 0 to Sent - 1.</summary>
        public int Sent => Volatile.Read(ref _sent);

        public string Uid(int n) => $"{_run}-{n}";

        public void Emit(int spans)
        {
            for (int i = 0; i < spans; i++)
            {
                using var activity = _source.StartActivity("op", ActivityKind.Internal, parentContext: default)!;
                activity.SetTag("uid", Uid(_sent));
                Interlocked.Increment(ref _sent);
            }
        }

        public async Task ProduceAsync(CancellationToken cancellationToken)
        {
            await Task.Yield();
            while (!cancellationToken.IsCancellationRequested)
            {
                Emit(10);
                await Task.Delay(10, CancellationToken.None);
            }
        }

        public void Flush() => Assert.True(_provider.ForceFlush(30_000), "ForceFlush timed out");

        public void Dispose()
        {
            _provider.Dispose();
            _source.Dispose();
        }
    }
}
