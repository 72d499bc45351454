using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using Microsoft.Extensions.DependencyInjection;
using ServerlessOtlp.Gateway.Ingest;
using ServerlessOtlp.Log;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Otlp;
using Xunit.Abstractions;

namespace ServerlessOtlp.Tests.Reliability;

/// <summary>
/// Sustained load above capacity: the log is slow (every append takes 200 ms) and 16 senders
/// push 256 KiB requests as fast as they are answered. The gateway must hold no more than its
/// in-flight budget, answer the excess with 503 + Retry-After instead of queueing, keep its heap
/// bounded, and serve normally once the load stops.
/// </summary>
[Collection(ReliabilityProcesses.Name)]
public sealed class MemoryBudgetTests(ITestOutputHelper output)
{
    private const string Key = "memory-key-0123456789abcdef";
    private const long Budget = 4L * 1024 * 1024;

    private sealed class SlowLog(TimeSpan delay) : IPartitionedLog
    {
        private readonly MemoryLog _inner = new(8) { DiscardBodies = true };

        public string Name => "slow";

        public int PartitionCount => _inner.PartitionCount;

        public Task OpenAsync(CancellationToken cancellationToken = default) => _inner.OpenAsync(cancellationToken);

        public async Task AppendAsync(int partition, IReadOnlyList<LogEvent> events, CancellationToken cancellationToken = default)
        {
            await Task.Delay(delay, cancellationToken);
            await _inner.AppendAsync(partition, events, cancellationToken);
        }

        public Task<ReadBatch> ReadAsync(int partition, LogPosition from, int maxEvents, int maxBytes, FencingToken fence, CancellationToken cancellationToken = default) =>
            _inner.ReadAsync(partition, from, maxEvents, maxBytes, fence, cancellationToken);

        public Task<LogPosition> GetEndAsync(int partition, CancellationToken cancellationToken = default) => _inner.GetEndAsync(partition, cancellationToken);

        public long Lag(LogPosition checkpoint, LogPosition end) => _inner.Lag(checkpoint, end);

        public Task<LogPosition> FindPositionAsync(int partition, DateTimeOffset time, CancellationToken cancellationToken = default) => _inner.FindPositionAsync(partition, time, cancellationToken);

        // Reads keep no state per reader, and a side reader keeps this log's behaviour.
        public IPartitionedLog OpenSideReader() => this;

        public ILogRetention? Retention => null;

        public string? ConsumerGroup => null;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    [Fact]
    public async Task Load_above_capacity_stays_within_the_in_flight_budget_and_is_refused_with_503_and_Retry_After()
    {
        var duration = TimeSpan.FromSeconds(Soak.Pick(6, 120));
        output.WriteLine(Soak.Note($"{duration.TotalSeconds} s above capacity"));
        var tenants = new InMemoryTenantDirectory(new TenantFile { Tenants = [new TenantConfig { Id = "memory", ApiKeys = [Key] }] });
        await using var gateway = await InProcessGateway.StartAsync(new SlowLog(TimeSpan.FromMilliseconds(200)), tenants, o => o.InFlightBudgetBytes = Budget);
        var budget = gateway.App.Services.GetRequiredService<IngestService>().Budget;

        // ~256 KiB of spans; concatenated copies of one request are a valid request.
        var one = OtlpTestData.Traces(42, 2, 2, 50, 0).ToByteArray();
        var body = Enumerable.Repeat(one, Math.Max(1, 256 * 1024 / one.Length)).SelectMany(b => b).ToArray();

        GC.Collect();
        GC.WaitForPendingFinalizers();
        long heapBefore = GC.GetTotalMemory(true);
        long ok = 0, refused = 0, other = 0, peakUsed = 0, peakHeap = 0;
        string? unexpected = null;
        using var http = new HttpClient { BaseAddress = gateway.HttpUri, Timeout = TimeSpan.FromSeconds(60) };
        using var stop = new CancellationTokenSource(duration);
        var sampler = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                peakUsed = Math.Max(peakUsed, budget.Used);
                peakHeap = Math.Max(peakHeap, GC.GetTotalMemory(false));
                await Task.Delay(5);
            }
        });
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var content = new ByteArrayContent(body);
                content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/x-protobuf");
                using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/traces") { Content = content };
                request.Headers.Add("x-api-key", Key);
                using var response = await http.SendAsync(request);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    Interlocked.Increment(ref ok);
                }
                else if (response.StatusCode == HttpStatusCode.ServiceUnavailable && response.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1))
                {
                    Interlocked.Increment(ref refused);
                }
                else
                {
                    Interlocked.Increment(ref other);
                    unexpected ??= $"{(int)response.StatusCode} Retry-After {response.Headers.RetryAfter}";
                }
            }
        })));
        await sampler;

        GC.Collect();
        GC.WaitForPendingFinalizers();
        long heapAfter = GC.GetTotalMemory(true);
        double offered = (ok + refused) * body.Length / sw.Elapsed.TotalSeconds / 1048576.0;
        output.WriteLine($"{ok} accepted, {refused} refused with 503 + Retry-After, {other} other; offered {offered:F0} MiB/s of {body.Length / 1024} KiB requests");
        output.WriteLine($"in-flight budget {Budget / 1048576.0:F0} MiB: peak used {peakUsed / 1048576.0:F2} MiB; managed heap before {heapBefore / 1048576.0:F0} MiB, peak sampled {peakHeap / 1048576.0:F0} MiB, after {heapAfter / 1048576.0:F0} MiB");

        Assert.True(other == 0, $"{other} answers that are neither 200 nor 503 with Retry-After, e.g. {unexpected}");
        Assert.True(ok > 0, "nothing was accepted");
        Assert.True(refused > ok, "the load was not above capacity: the test proves nothing");
        Assert.True(peakUsed <= Budget, $"held {peakUsed} bytes > budget {Budget}");
        // Refused requests are not kept: what remains after a full GC is small (other tests share the process: generous).
        Assert.True(heapAfter - heapBefore < 128L * 1024 * 1024, $"heap grew by {(heapAfter - heapBefore) / 1048576.0:F0} MiB");
        Assert.Equal(0, budget.Used);
        Assert.Empty(gateway.Errors);

        // Serves normally once the load is gone.
        var small = new ByteArrayContent(one);
        small.Headers.ContentType = MediaTypeHeaderValue.Parse("application/x-protobuf");
        using var last = new HttpRequestMessage(HttpMethod.Post, "/v1/traces") { Content = small };
        last.Headers.Add("x-api-key", Key);
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(last)).StatusCode);
    }
}
