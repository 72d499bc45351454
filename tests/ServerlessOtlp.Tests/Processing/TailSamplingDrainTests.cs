using System.Diagnostics;
using Google.Protobuf;
using Microsoft.Extensions.Time.Testing;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Trace;
using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Export;
using ServerlessOtlp.Tests.Infrastructure;
using ServerlessOtlp.Tests.Pipeline;
using static ServerlessOtlp.Tests.Pipeline.TailSamplingTestData;

namespace ServerlessOtlp.Tests.Processing;

/// <summary>
/// Tail sampling through the real drain engine (in-memory log, checkpoints and leases on Azurite)
/// on a fake clock: the checkpoint never passes an undecided trace, the end of the log is decided
/// by the clock, a graceful end hands over nothing twice, a crash re-decides.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class TailSamplingDrainTests(AzuriteFixture azurite)
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    private static TailPolicy Half => Policy(TailPolicyType.Probabilistic, p => p with { Probabilistic = new ProbabilisticPolicy { SamplingPercentage = 50 } });

    private sealed class World(DrainTestContext ctx, TailSamplingConfig tail, RetryConfig? retry = null)
    {
        public MemoryLog Log { get; } = new(1, "tail" + Guid.NewGuid().ToString("N")[..10]);

        public FakeTimeProvider Clock { get; } = new(T0);

        public CapturingExporter Exporter { get; } = new();

        public InMemoryTenantDirectory Tenants { get; } = new(new TenantFile
        {
            Tenants =
            [
                new TenantConfig
                {
                    Id = Tenant,
                    Sampling = new SamplingConfig { Tail = tail },
                    Destinations = [new DestinationConfig { Name = "out", Kind = FileDestination.KindName, Signals = [Signal.Traces], Settings = new FileSettings { Path = "unused" }, Retry = retry }],
                },
            ],
        });

        /// <summary>One processor per drainer: separate processes share nothing in memory.</summary>
        public DrainEngine Engine(string owner, Action<DrainOptions>? configure = null) =>
            new(Log, ctx.Checkpoints, ctx.Leases, new TenantEventProcessor(Tenants, [Exporter], ctx.DeadLetters), ctx.DeadLetters, DrainTestContext.Options(owner, configure), time: Clock);

        public Task AppendAsync(double receivedAtSeconds, IMessage request) =>
            Log.AppendAsync(0, [new LogEvent(new EventProperties(Tenant, Signal.Traces, BodyCodec.Protobuf, 1, T0.AddSeconds(receivedAtSeconds), "gw"), request.ToByteArray())]);

        public async Task<long> CheckpointAsync() => (await ctx.Checkpoints.ReadAsync(Log.Name, "$Default", 0)).Position;

        /// <summary>
        /// Moves the fake clock in small steps (never past <paramref name="maxSeconds"/>) and gives the
        /// drain real time to run, until <paramref name="condition"/> holds.
        /// </summary>
        public async Task RunUntilAsync(Func<Task<bool>> condition, double maxSeconds)
        {
            var limit = T0.AddSeconds(maxSeconds);
            var real = Stopwatch.StartNew();
            while (!await condition())
            {
                Assert.True(real.Elapsed < TimeSpan.FromSeconds(30), "the condition did not hold in time");
                if (Clock.GetUtcNow() < limit)
                {
                    Clock.Advance(TimeSpan.FromMilliseconds(50));
                }

                await Task.Delay(2);
            }
        }

        public async Task<DrainResult> CompleteAsync(Task<DrainResult> drain, double maxSeconds = 600)
        {
            await RunUntilAsync(() => Task.FromResult(drain.IsCompleted), maxSeconds);
            return await drain;
        }
    }

    [Fact]
    public async Task The_checkpoint_never_passes_an_undecided_trace_and_the_end_of_the_log_is_decided_by_the_clock()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        var w = new World(ctx, Tail(Policy(TailPolicyType.AlwaysSample)));
        byte[] a = TraceId(1, 0), b = TraceId(2, 0);
        await w.AppendAsync(0, Request(Span(a, "a1")));
        await w.AppendAsync(1, Request(Span(b, "b1")));
        await w.AppendAsync(2, Request(Span(a, "a2")));
        var drain = w.Engine("drainer-a").DrainAsync(0);

        // Everything is read, nothing is due: the checkpoint stays at a's first event and the drain stays alive past its idle timeout.
        await w.RunUntilAsync(async () => await w.CheckpointAsync() == 0 && w.Clock.GetUtcNow() >= T0.AddSeconds(9.9), maxSeconds: 9.9);
        Assert.Empty(w.Exporter.Spans);
        Assert.Equal(0, await w.CheckpointAsync());
        Assert.False(drain.IsCompleted);

        // Nothing new arrives; the clock decides a at 10 s, b at 11 s.
        await w.RunUntilAsync(async () => w.Exporter.Spans.Count == 2 && await w.CheckpointAsync() == 1, maxSeconds: 10.9);
        Assert.Equal(["a1", "a2"], w.Exporter.SpanNames.Order());

        var result = await w.CompleteAsync(drain);
        Assert.Equal(DrainEnd.Idle, result.End);
        Assert.Equal(3, result.Checkpoint.Value);
        Assert.Equal(3, await w.CheckpointAsync());
        Assert.Equal(["a1", "a2", "b1"], w.Exporter.SpanNames.Order());
    }

    [Fact]
    public async Task A_graceful_end_decides_what_it_buffered_before_it_hands_over_so_nothing_is_sent_twice()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        var w = new World(ctx, Tail(Policy(TailPolicyType.AlwaysSample)));
        await w.AppendAsync(0, Request(Span(TraceId(1, 0), "a")));
        await w.AppendAsync(1, Request(Span(TraceId(2, 0), "b")));
        await w.AppendAsync(2, Request(Span(TraceId(3, 0), "c")));
        var engine = w.Engine("drainer-a", o => { o.TimeBudget = TimeSpan.Zero; o.BatchMaxEvents = 1; });

        var results = new List<DrainResult>();
        for (int job = 0; job < 3; job++)
        {
            results.Add(await w.CompleteAsync(engine.DrainAsync(0)));
        }

        // Each job read one event, ran out of budget, stopped reading and waited for its trace's decision.
        Assert.All(results, r => Assert.Equal(DrainEnd.BudgetExhausted, r.End));
        Assert.Equal([1L, 2L, 3L], results.Select(r => r.Checkpoint.Value));
        Assert.Equal(["a", "b", "c"], w.Exporter.SpanNames);

        var last = await w.CompleteAsync(w.Engine("drainer-b").DrainAsync(0));
        Assert.Equal(DrainEnd.Idle, last.End);
        Assert.Equal(["a", "b", "c"], w.Exporter.SpanNames);
    }

    [Fact]
    public async Task After_a_crash_the_next_owner_re_decides_and_late_spans_fall_back_to_the_consistent_probabilistic_decision()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        var w = new World(ctx, Tail(Half));
        byte[] x = TraceId(1, HighR), y = TraceId(2, HighR), z = TraceId(3, 0);
        await w.AppendAsync(0, Request(Span(x, "x1")));
        await w.AppendAsync(8, Request(Span(y, "y1")));
        await w.AppendAsync(10.5, Request(Span(z, "z1")));
        await w.AppendAsync(12, Request(Span(x, "x2")));

        // Drainer a reads the backlog: the watermark (10.5 s) decides x, whose late span x2 then follows
        // the cached decision at once; y and z still wait, so the checkpoint stays at y's event.
        using var crash = new CancellationTokenSource();
        var a = w.Engine("drainer-a", o => o.BatchMaxEvents = 1).DrainAsync(0, cancellationToken: crash.Token);
        await w.RunUntilAsync(async () => w.Exporter.Spans.Count == 2 && await w.CheckpointAsync() == 1, maxSeconds: 1);
        Assert.Equal(["x1", "x2"], w.Exporter.SpanNames);

        // It dies with y and z in its buffer (here it stops; a crashed one's lease would expire instead).
        await crash.CancelAsync();
        Assert.Equal(DrainEnd.Cancelled, (await a).End);
        Assert.Equal(1, await w.CheckpointAsync());

        // Drainer b re-reads from the checkpoint: y is kept and z dropped as a would have; x2 is a
        // trace of its own now and the same consistent decision keeps it again (processed twice).
        var result = await w.CompleteAsync(w.Engine("drainer-b").DrainAsync(0));
        Assert.Equal(DrainEnd.Idle, result.End);
        Assert.Equal(4, result.Checkpoint.Value);
        Assert.Equal(["x1", "x2", "x2", "y1"], w.Exporter.SpanNames.Order());
        Assert.All(w.Exporter.Spans, s => Assert.Equal("ot=th:8", s.TraceState));
    }

    [Fact]
    public async Task A_decided_trace_the_destination_cannot_take_is_retried_from_a_checkpoint_below_it()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        var w = new World(ctx, Tail(Policy(TailPolicyType.AlwaysSample)), new RetryConfig { InitialInterval = TimeSpan.FromMilliseconds(5), MaxElapsed = TimeSpan.FromMilliseconds(20) });
        await w.AppendAsync(0, Request(Span(TraceId(1, 0), "a")));
        await w.AppendAsync(1, Request(Span(TraceId(2, 0), "b")));
        w.Exporter.Answer = _ => ServerlessOtlp.Export.ExportOutcome.Transient("backend down");

        // No retry store: the flush fails as an event's delivery would, and the checkpoint stays at a.
        var failed = await w.CompleteAsync(w.Engine("drainer-a").DrainAsync(0));
        Assert.Equal(DrainEnd.RetryLater, failed.End);
        Assert.Equal(0, await w.CheckpointAsync());

        w.Exporter.Answer = _ => ServerlessOtlp.Export.ExportOutcome.Ok;
        var retried = await w.CompleteAsync(w.Engine("drainer-a").DrainAsync(0));
        Assert.Equal(DrainEnd.Idle, retried.End);
        Assert.Equal(2, await w.CheckpointAsync());
        Assert.Equal(["a", "b"], w.Exporter.SpanNames.Order());
    }

    [Fact]
    public async Task Spans_from_the_OpenTelemetry_sdk_keep_only_the_trace_with_an_error()
    {
        await using var receiver = await CapturingHttpReceiver.StartAsync();
        receiver.Answer = _ => (200, "", null);
        using var source = new ActivitySource("Shop.Tail");
        using (var provider = Sdk.CreateTracerProviderBuilder()
                   .AddSource(source.Name)
                   .SetSampler(new AlwaysOnSampler())
                   .AddOtlpExporter(o =>
                   {
                       o.Protocol = OtlpExportProtocol.HttpProtobuf;
                       o.Endpoint = new Uri(receiver.Uri, "/v1/traces");
                   })
                   .Build())
        {
            using (source.StartActivity("GET /ok", ActivityKind.Server))
            {
                using var child = source.StartActivity("db ok");
            }

            using (source.StartActivity("POST /orders", ActivityKind.Server))
            {
                using var child = source.StartActivity("charge card");
                child!.SetStatus(ActivityStatusCode.Error, "declined");
            }

            Assert.True(provider.ForceFlush(15_000));
        }

        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        var w = new World(ctx, Tail(Policy(TailPolicyType.StatusCode, p => p with { StatusCode = new StatusCodePolicy { StatusCodes = [SpanStatusCode.Error] } })));
        foreach (var captured in receiver.Requests.Where(r => r.Path == "/v1/traces"))
        {
            await w.AppendAsync(0, ExportTraceServiceRequest.Parser.ParseFrom(captured.Body));
        }

        var result = await w.CompleteAsync(w.Engine("drainer-a").DrainAsync(0));

        Assert.Equal(DrainEnd.Idle, result.End);
        Assert.Equal(["POST /orders", "charge card"], w.Exporter.SpanNames.Order());
        Assert.Single(w.Exporter.Spans.Select(s => s.TraceId).Distinct());
    }
}
