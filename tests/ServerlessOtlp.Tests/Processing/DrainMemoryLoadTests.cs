using System.Collections.Concurrent;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Processing;

/// <summary>
/// Issue #9 item 6, runner side: a backlog far above the memory budget, drained by several
/// concurrent drains sharing one budget into a slow destination, never holds more event bytes
/// than the budget, and still delivers everything, including events larger than the budget.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class DrainMemoryLoadTests(AzuriteFixture azurite)
{
    private const int Partitions = 4;

    [Fact]
    public async Task Concurrent_drains_into_a_slow_destination_stay_under_the_budget_and_deliver_everything()
    {
        // 4 partitions × 40 events of 48 KiB (≈ 7.5 MiB backlog) through a 256 KiB budget; partition 0
        // also holds an event of 600 KiB, larger than the whole budget.
        const long budgetBytes = 256 * 1024;
        var log = new GeneratedLog(Partitions, eventsPerPartition: 40, eventBytes: 48 * 1024, hugeEvent: (0, 17, 600 * 1024));
        var (delivered, budget) = await DrainAllAsync(log, budgetBytes, batchMaxBytes: 128 * 1024);

        AssertAllDelivered(log, delivered);
        Assert.InRange(budget.HighWaterMark, 48 * 1024, budgetBytes);
        Assert.Equal(budgetBytes, budget.HighWaterMark); // the huge event held all of it
        Assert.Equal(0, budget.InUse);
    }

    [Fact]
    public async Task With_a_budget_smaller_than_every_event_drains_progress_one_event_at_a_time()
    {
        const long budgetBytes = 1024;
        var log = new GeneratedLog(Partitions, eventsPerPartition: 12, eventBytes: 4 * 1024, hugeEvent: null);
        var (delivered, budget) = await DrainAllAsync(log, budgetBytes, batchMaxBytes: 64 * 1024);

        AssertAllDelivered(log, delivered);
        Assert.Equal(budgetBytes, budget.HighWaterMark);
        Assert.Equal(0, budget.InUse);
        Assert.Equal(1, log.MostEventsPerRead); // only ever one event held at a time
    }

    private async Task<(ConcurrentDictionary<(int, long), int> Delivered, DrainMemoryBudget Budget)> DrainAllAsync(GeneratedLog log, long budgetBytes, int batchMaxBytes)
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString);
        var options = DrainTestContext.Options("drainer-mem", o =>
        {
            o.MemoryBudgetBytes = budgetBytes;
            o.BatchMaxBytes = batchMaxBytes;
        });
        var budget = new DrainMemoryBudget(options.MemoryBudgetBytes);
        var processor = new SlowProcessor(budget, log);
        var engine = new DrainEngine(log, ctx.Checkpoints, ctx.Leases, processor, ctx.DeadLetters, options, memory: budget);

        // One drain per partition at once, as the runner does; each is continued until caught up.
        await Task.WhenAll(Enumerable.Range(0, Partitions).Select(p => Task.Run(async () =>
        {
            for (int round = 0; round < 20; round++)
            {
                var result = await engine.DrainAsync(p);
                if (result.End == DrainEnd.Idle && result.Checkpoint.Value == log.EventsPerPartition)
                {
                    return;
                }
            }

            Assert.Fail($"partition {p} did not catch up");
        })));

        Assert.Empty(processor.Violations);
        return (processor.Delivered, budget);
    }

    private static void AssertAllDelivered(GeneratedLog log, ConcurrentDictionary<(int, long), int> delivered)
    {
        var expected = Enumerable.Range(0, Partitions).SelectMany(p => Enumerable.Range(0, log.EventsPerPartition).Select(i => (p, (long)i))).ToHashSet();
        Assert.Equal(expected.Count, delivered.Count);
        Assert.True(expected.SetEquals(delivered.Keys));
    }

    /// <summary>A destination that takes a few milliseconds per event and checks the budget while it holds each one.</summary>
    private sealed class SlowProcessor(DrainMemoryBudget budget, GeneratedLog log) : IEventProcessor
    {
        public ConcurrentDictionary<(int, long), int> Delivered { get; } = new();

        public ConcurrentQueue<string> Violations { get; } = new();

        public async Task<EventFate> ProcessAsync(int partition, ReadEvent logEvent, CancellationToken cancellationToken = default)
        {
            long inUse = budget.InUse;
            if (inUse > budget.Capacity || inUse < Math.Min(logEvent.Body.Length, budget.Capacity))
            {
                Violations.Enqueue($"p{partition}@{logEvent.Position}: {inUse} bytes in use while holding {logEvent.Body.Length} (capacity {budget.Capacity})");
            }

            if (logEvent.Body.Length != log.SizeOf(partition, logEvent.Position.Value))
            {
                Violations.Enqueue($"p{partition}@{logEvent.Position}: wrong body");
            }

            await Task.Delay(3, cancellationToken);
            Delivered.AddOrUpdate((partition, logEvent.Position.Value), 1, (_, n) => n + 1);
            return EventFate.Delivered;
        }
    }

    /// <summary>A log whose backlog exists only as a rule: each read builds its events, so only what a drain holds costs memory.</summary>
    private sealed class GeneratedLog(int partitions, int eventsPerPartition, int eventBytes, (int Partition, long Position, int Bytes)? hugeEvent) : IPartitionedLog
    {
        private int _mostEventsPerRead;

        public string Name { get; } = "gen" + Guid.NewGuid().ToString("N")[..10];

        public int PartitionCount => partitions;

        public int EventsPerPartition => eventsPerPartition;

        /// <summary>Most events any one read returned.</summary>
        public int MostEventsPerRead => Volatile.Read(ref _mostEventsPerRead);

        public int SizeOf(int partition, long position) =>
            hugeEvent is { } h && h.Partition == partition && h.Position == position ? h.Bytes : eventBytes;

        public Task OpenAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

        public Task AppendAsync(int partition, IReadOnlyList<LogEvent> events, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public Task<ReadBatch> ReadAsync(int partition, LogPosition from, int maxEvents, int maxBytes, FencingToken fence, CancellationToken cancellationToken = default)
        {
            var events = new List<ReadEvent>();
            long bytes = 0;
            for (long i = Math.Max(from.Value, 0); i < eventsPerPartition && events.Count < maxEvents; i++)
            {
                int size = SizeOf(partition, i);
                if (events.Count > 0 && bytes + size > maxBytes)
                {
                    break;
                }

                var properties = new EventProperties("acme", Signal.Traces, BodyCodec.Protobuf, 1, DateTimeOffset.UtcNow, "gen");
                events.Add(new ReadEvent(new LogPosition(i), new LogPosition(i + 1), properties, new byte[size]));
                bytes += size;
            }

            int seen;
            while ((seen = Volatile.Read(ref _mostEventsPerRead)) < events.Count
                && Interlocked.CompareExchange(ref _mostEventsPerRead, events.Count, seen) != seen)
            {
            }

            var next = events.Count > 0 ? events[^1].Next : new LogPosition(Math.Max(from.Value, eventsPerPartition));
            return Task.FromResult(new ReadBatch(events, next));
        }

        public Task<LogPosition> GetEndAsync(int partition, CancellationToken cancellationToken = default) =>
            Task.FromResult(new LogPosition(eventsPerPartition));

        public long Lag(LogPosition checkpoint, LogPosition end) => Math.Max(0, end.Value - checkpoint.Value);

        public Task<LogPosition> FindPositionAsync(int partition, DateTimeOffset time, CancellationToken cancellationToken = default) =>
            Task.FromResult(LogPosition.Start);

        // Reads keep no state per reader, and a side reader keeps this log's behaviour.
        public IPartitionedLog OpenSideReader() => this;

        public ILogRetention? Retention => null;

        public string? ConsumerGroup => null;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
