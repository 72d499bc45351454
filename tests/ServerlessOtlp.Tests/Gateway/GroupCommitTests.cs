using Google.Protobuf;
using Microsoft.Extensions.Time.Testing;
using ServerlessOtlp.Gateway;
using ServerlessOtlp.Gateway.Ingest;
using ServerlessOtlp.Gateway.Telemetry;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Wire;
using ServerlessOtlp.Tests.Otlp;

namespace ServerlessOtlp.Tests.Gateway;

/// <summary>
/// The gateway's group commit (IngestService + PartitionAppender + the shared linger), on a fake
/// clock and a log whose appends can be held: a lone request is appended at once, parts that
/// arrive during an append go together in the next one, and only under concurrency does a batch
/// wait for the linger.
/// </summary>
public sealed class GroupCommitTests : IDisposable
{
    private static readonly TimeSpan Linger = TimeSpan.FromMinutes(1);
    private readonly FakeTimeProvider _time = new();
    private readonly GatewayMetrics _metrics = new();
    private readonly TenantRateLimiter _limiter = new();

    public void Dispose()
    {
        _metrics.Dispose();
    }

    private IngestService Create(HeldLog log) =>
        new(log, new GatewayOptions { FlushDelay = Linger }, _metrics, _limiter, _time);

    private static byte[] Request(int seed) => OtlpTestData.Traces(seed, invalidShare: 0).ToByteArray();

    [Fact]
    public async Task A_lone_request_is_appended_at_once_without_waiting_for_the_linger()
    {
        var log = new HeldLog(2);
        var ingest = Create(log);

        var result = await ingest.IngestAsync("t", null, Signal.Traces, Request(1)).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(IngestOutcome.Ok, result.Outcome);
        Assert.True(result.Accepted > 0);
        Assert.Equal(result.Accepted, log.Inner.Snapshot(0).Concat(log.Inner.Snapshot(1)).Sum(e => e.Properties.ItemCount));
    }

    [Fact]
    public async Task Parts_that_arrive_during_an_append_go_together_in_the_next_one_as_one_event_per_tenant()
    {
        var log = new HeldLog(1);
        var ingest = Create(log);
        log.Hold(0);

        var first = ingest.IngestAsync("t", null, Signal.Traces, Request(1));
        await log.WaitForAppendsAsync(0, 1);
        var second = ingest.IngestAsync("t", null, Signal.Traces, Request(2));
        var third = ingest.IngestAsync("t", null, Signal.Traces, Request(3));
        Assert.False(second.IsCompleted);
        Assert.False(third.IsCompleted);

        log.Release(0);
        var results = await Task.WhenAll(first, second, third).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.All(results, r => Assert.Equal(IngestOutcome.Ok, r.Outcome));
        Assert.Equal(2, log.Appends(0));
        var events = log.Inner.Snapshot(0);
        Assert.Equal(2, events.Count);
        int both = results[1].Accepted + results[2].Accepted;
        Assert.Equal(both, events[1].Properties.ItemCount);
        // The merged event is one valid export request holding both requests' spans.
        using var merged = OtlpSplitter.Split(Signal.Traces, events[1].Body, 1);
        Assert.Equal(both, merged.AcceptedItems);
    }

    [Fact]
    public async Task Under_concurrency_a_new_batch_lingers_on_the_shared_timer()
    {
        var log = new HeldLog(2);
        var ingest = Create(log);
        using (var split = OtlpSplitter.Split(Signal.Traces, Request(2), 2))
        {
            Assert.Equal(2, split.Records.ToArray().Select(r => r.Partition).Distinct().Count()); // precondition: both partitions
        }

        // The first request stays in flight: its append to partition 0 is held.
        log.Hold(0);
        var first = ingest.IngestAsync("t", null, Signal.Traces, Request(1));
        await log.WaitForAppendsAsync(0, 1);
        Assert.Equal(1, log.Appends(1));

        // The second request finds partition 1 idle, but another request in flight: it lingers.
        var second = ingest.IngestAsync("t", null, Signal.Traces, Request(2));
        Assert.Equal(1, log.Appends(1));
        _time.Advance(Linger - TimeSpan.FromSeconds(1));
        Assert.Equal(1, log.Appends(1));
        _time.Advance(TimeSpan.FromSeconds(1));
        await log.WaitForAppendsAsync(1, 2);

        log.Release(0);
        var results = await Task.WhenAll(first, second).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.All(results, r => Assert.Equal(IngestOutcome.Ok, r.Outcome));
        Assert.Equal(2, log.Appends(0));
    }

    [Fact]
    public async Task A_failed_append_fails_only_the_requests_in_it_and_the_next_append_succeeds()
    {
        var log = new HeldLog(1);
        var ingest = Create(log);
        log.FailNext = true;

        var failed = await ingest.IngestAsync("t", null, Signal.Traces, Request(1)).WaitAsync(TimeSpan.FromSeconds(10));
        var ok = await ingest.IngestAsync("t", null, Signal.Traces, Request(2)).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(IngestOutcome.LogUnavailable, failed.Outcome);
        Assert.Equal(IngestOutcome.Ok, ok.Outcome);
        Assert.Equal(ok.Accepted, Assert.Single(log.Inner.Snapshot(0)).Properties.ItemCount);
        Assert.Equal(0, ingest.Budget.Used);
    }

    /// <summary>A memory log whose appends to a partition can be held until released.</summary>
    private sealed class HeldLog(int partitions) : IPartitionedLog
    {
        private readonly TaskCompletionSource[] _gates = Enumerable.Range(0, partitions).Select(_ => Completed()).ToArray();
        private readonly int[] _appends = new int[partitions];

        public MemoryLog Inner { get; } = new(partitions);

        public bool FailNext { get; set; }

        public string Name => "held";

        public int PartitionCount => partitions;

        public void Hold(int partition) => _gates[partition] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Release(int partition) => _gates[partition].TrySetResult();

        public int Appends(int partition) => Volatile.Read(ref _appends[partition]);

        public async Task WaitForAppendsAsync(int partition, int count)
        {
            for (int i = 0; i < 1000 && Appends(partition) < count; i++)
            {
                await Task.Delay(10);
            }

            Assert.Equal(count, Appends(partition));
        }

        public async Task AppendAsync(int partition, IReadOnlyList<LogEvent> events, CancellationToken cancellationToken = default)
        {
            if (FailNext)
            {
                FailNext = false;
                throw new IOException("append failed");
            }

            await Inner.AppendAsync(partition, events, cancellationToken);
            Interlocked.Increment(ref _appends[partition]);
            await _gates[partition].Task;
            // Later appends to this partition pass unless held again.
            _gates[partition] = Completed();
        }

        private static TaskCompletionSource Completed()
        {
            var tcs = new TaskCompletionSource();
            tcs.SetResult();
            return tcs;
        }

        public Task OpenAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

        public Task<ReadBatch> ReadAsync(int partition, LogPosition from, int maxEvents, int maxBytes, FencingToken fence, CancellationToken cancellationToken = default) =>
            Inner.ReadAsync(partition, from, maxEvents, maxBytes, fence, cancellationToken);

        public Task<LogPosition> GetEndAsync(int partition, CancellationToken cancellationToken = default) => Inner.GetEndAsync(partition, cancellationToken);

        public long Lag(LogPosition checkpoint, LogPosition end) => Inner.Lag(checkpoint, end);

        public Task<LogPosition> FindPositionAsync(int partition, DateTimeOffset time, CancellationToken cancellationToken = default) =>
            Inner.FindPositionAsync(partition, time, cancellationToken);

        // Reads keep no state per reader, and a side reader keeps this log's behaviour.
        public IPartitionedLog OpenSideReader() => this;

        public ILogRetention? Retention => null;

        public string? ConsumerGroup => null;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
