using System.Collections.Concurrent;
using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Trace.V1;
using ServerlessOtlp.Export;
using ServerlessOtlp.Export.Otlp;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Processing;

/// <summary>
/// A destination's <c>batch</c> through the real drain: consecutive events' items merged up to the
/// limits, sent before the checkpoint passes them, and settled per event when a batch fails.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class DestinationBatchingTests(AzuriteFixture azurite)
{
    // No timeout a busy machine could hit: a failing answer below asks for a wait longer than the
    // budget (Retry-After), so it settles at once instead of being retried.
    private static readonly ExportResilienceOptions Quick = new()
    {
        AttemptTimeout = ExportResilienceOptions.MaxInlineBudget,
        InlineBudget = ExportResilienceOptions.MaxInlineBudget,
        BreakerMinimumThroughput = 1000,
    };

    private static readonly ExportOutcome Unavailable = ExportOutcome.Transient("HTTP 503", retryAfter: TimeSpan.FromMinutes(1));

    [Fact]
    public async Task Consecutive_events_are_merged_up_to_maxItems_and_sent_before_the_checkpoint_passes_them()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        var backend = new BatchBackend(ctx);
        var processor = Processor(ctx, backend, new BatchConfig { MaxItems = 10, FlushInterval = TimeSpan.FromHours(1) });
        await ctx.AppendSpansAsync(0, 0, 25);

        var result = await (await ctx.EngineAsync(Options(), processor)).DrainAsync(0);

        Assert.Equal(DrainEnd.Idle, result.End);
        Assert.Equal(new[] { 10, 10, 5 }, backend.Batched.Select(r => r.Spans.Count));
        Assert.Equal(Enumerable.Range(0, 25), backend.Batched.SelectMany(r => r.Spans));
        Assert.Equal(25, backend.Unbatched.Count); // a destination without batch: one request per event, as before
        var events = await ctx.ReadAllAsync(0);
        Assert.Equal(events[^1].Next.Value, result.Checkpoint.Value);

        // Each batch went out while the checkpoint was still below its first event.
        foreach (var request in backend.Batched)
        {
            Assert.True(request.CheckpointAtSend <= events[request.Spans[0]].Position.Value, $"checkpoint {request.CheckpointAtSend} passed span {request.Spans[0]} before it was sent");
        }
    }

    [Fact]
    public async Task MaxBytes_bounds_every_request_and_nothing_is_lost_or_repeated()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        var backend = new BatchBackend(ctx);
        int eventBytes = DrainTestContext.SpanBody(10).Length;
        var processor = Processor(ctx, backend, new BatchConfig { MaxBytes = (eventBytes * 3) + 1, MaxItems = 1000 });
        await ctx.AppendSpansAsync(0, 10, 20);

        var result = await (await ctx.EngineAsync(Options(), processor)).DrainAsync(0);

        Assert.Equal(DrainEnd.Idle, result.End);
        Assert.All(backend.Batched, r => Assert.True(r.Bytes <= (eventBytes * 3) + 1, $"{r.Bytes} bytes"));
        Assert.True(backend.Batched.Count < 20, "nothing was merged");
        Assert.Equal(Enumerable.Range(10, 20), backend.Batched.SelectMany(r => r.Spans));
    }

    [Fact]
    public async Task A_batch_refused_for_good_dead_letters_each_of_its_events_for_that_destination_alone()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        var backend = new BatchBackend(ctx) { Refuse = spans => spans.Contains(12) ? ExportOutcome.Permanent("HTTP 400: span 12 is malformed") : null };
        var processor = Processor(ctx, backend, new BatchConfig { MaxItems = 10 });
        await ctx.AppendSpansAsync(0, 0, 25);

        var result = await (await ctx.EngineAsync(Options(), processor)).DrainAsync(0);

        Assert.Equal(DrainEnd.Idle, result.End);
        Assert.Equal(10, result.DeadLettered);
        var events = await ctx.ReadAllAsync(0);
        var letters = (await ctx.DeadLetters.ListAsync(DrainTestContext.Tenant)).OrderBy(d => d.Position).ToList();
        Assert.Equal(events.Skip(10).Take(10).Select(e => e.Position.Value), letters.Select(d => d.Position));
        Assert.All(letters, d => Assert.Equal("batched", d.Destination));

        // Each dead letter holds its own event's items, so a redrive re-sends exactly those.
        for (int i = 0; i < letters.Count; i++)
        {
            var (_, body) = (await ctx.DeadLetters.GetAsync(letters[i].Id))!.Value;
            var request = ExportTraceServiceRequest.Parser.ParseFrom(body.ToArray());
            Assert.Equal("span-" + (10 + i), Assert.Single(ServerlessOtlp.Tests.Pipeline.TailSamplingTestData.Spans(request)).Name);
        }

        Assert.Equal(Enumerable.Range(0, 10).Concat(Enumerable.Range(20, 5)), backend.Batched.SelectMany(r => r.Spans));
        Assert.Equal(25, backend.Unbatched.Count);
    }

    [Fact]
    public async Task A_batch_that_can_be_neither_sent_nor_parked_holds_the_checkpoint_at_its_first_event()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        var backend = new BatchBackend(ctx) { Refuse = spans => spans.Contains(12) ? Unavailable : null };
        var processor = Processor(ctx, backend, new BatchConfig { MaxItems = 10 }, withUnbatched: false); // no retry store either
        await ctx.AppendSpansAsync(0, 0, 25);

        var result = await (await ctx.EngineAsync(Options(), processor)).DrainAsync(0);

        Assert.Equal(DrainEnd.RetryLater, result.End);
        var events = await ctx.ReadAllAsync(0);
        Assert.Equal(events[10].Position.Value, result.Checkpoint.Value);
        Assert.Equal(Enumerable.Range(0, 10), backend.Batched.SelectMany(r => r.Spans).Where(n => n < 10));

        // Once the backend answers, the next drain sends the rest from the held checkpoint.
        backend.Refuse = _ => null;
        var again = await (await ctx.EngineAsync(Options(), processor)).DrainAsync(0);
        Assert.Equal(DrainEnd.Idle, again.End);
        Assert.Equal(Enumerable.Range(0, 25), backend.Batched.SelectMany(r => r.Spans).Distinct().Order());
    }

    [Fact]
    public async Task A_batch_the_backend_cannot_take_now_is_parked_whole_and_the_drain_moves_on()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        var retry = new RetryStore(ctx.Blobs.GetBlobContainerClient("retry" + Guid.NewGuid().ToString("N")[..12]));
        await retry.EnsureCreatedAsync();
        var backend = new BatchBackend(ctx) { Refuse = spans => spans.Contains(12) ? Unavailable : null };
        var processor = Processor(ctx, backend, new BatchConfig { MaxItems = 10 }, retryStore: retry);
        await ctx.AppendSpansAsync(0, 0, 25);

        var result = await (await ctx.EngineAsync(Options(), processor)).DrainAsync(0);

        Assert.Equal(DrainEnd.Idle, result.End);
        var parked = Assert.Single(await retry.ListAsync(DrainTestContext.Tenant, "batched"));
        var claim = await retry.ClaimAsync(parked);
        var request = ExportTraceServiceRequest.Parser.ParseFrom(claim!.Body.ToArray());
        Assert.Equal(Enumerable.Range(10, 10).Select(n => "span-" + n), ServerlessOtlp.Tests.Pipeline.TailSamplingTestData.Spans(request).Select(s => s.Name));
        Assert.Empty(await ctx.DeadLetters.ListAsync(DrainTestContext.Tenant));
    }

    /// <summary>One read of every event; caps no busy machine reaches.</summary>
    private static DrainOptions Options() => DrainTestContext.Options("batcher", o =>
    {
        o.BatchMaxEvents = 100;
        o.LeaseTtl = TimeSpan.FromSeconds(60);
        o.ExportTimeout = TimeSpan.FromSeconds(20);
    });

    private static TenantEventProcessor Processor(DrainTestContext ctx, BatchBackend backend, BatchConfig batch, bool withUnbatched = true, RetryStore? retryStore = null)
    {
        var destinations = new List<DestinationConfig>
        {
            new() { Name = "batched", Kind = OtlpDestination.KindName, Signals = [Signal.Traces], Endpoint = "http://batched:4317", Batch = batch },
        };
        if (withUnbatched)
        {
            destinations.Add(new() { Name = "unbatched", Kind = OtlpDestination.KindName, Signals = [Signal.Traces], Endpoint = "http://unbatched:4317" });
        }

        var tenants = new InMemoryTenantDirectory(new TenantFile { Tenants = [new TenantConfig { Id = DrainTestContext.Tenant, Destinations = destinations }] });
        return new TenantEventProcessor(tenants, new ResilientExporter([backend], Quick), ctx.DeadLetters, retryStore);
    }

    /// <summary>One backend behind both destinations: records each request's span numbers, size and the checkpoint when it arrived.</summary>
    private sealed class BatchBackend(DrainTestContext ctx) : IDestinationExporter
    {
        private readonly ConcurrentQueue<Received> _batched = new();
        private readonly ConcurrentQueue<Received> _unbatched = new();

        public string Kind => OtlpDestination.KindName;

        public Func<IReadOnlyList<int>, ExportOutcome?> Refuse { get; set; } = _ => null;

        public List<Received> Batched => [.. _batched];

        public List<Received> Unbatched => [.. _unbatched];

        public async Task<ExportOutcome> ExportAsync(ExportRequest request, CancellationToken cancellationToken = default)
        {
            var spans = ServerlessOtlp.Tests.Pipeline.TailSamplingTestData.Spans((ExportTraceServiceRequest)request.Message).Select(s => int.Parse(s.Name["span-".Length..])).ToList();
            Assert.Equal(request.Protobuf.ToArray(), request.Message.ToByteArray()); // the merged bytes are the merged message
            if (request.Destination.Batch != null && Refuse(spans) is { } refusal)
            {
                return refusal;
            }

            long checkpoint = (await ctx.Checkpoints.ReadAsync(ctx.Log.Name, "$Default", 0, cancellationToken)).Position;
            (request.Destination.Batch != null ? _batched : _unbatched).Enqueue(new Received(spans, request.Protobuf.Length, checkpoint));
            return ExportOutcome.Ok;
        }
    }

    private sealed record Received(List<int> Spans, int Bytes, long CheckpointAtSend);
}
