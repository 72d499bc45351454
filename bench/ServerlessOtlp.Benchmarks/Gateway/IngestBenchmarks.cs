using BenchmarkDotNet.Attributes;
using ServerlessOtlp.Benchmarks.Otlp;
using ServerlessOtlp.Gateway;
using ServerlessOtlp.Gateway.Ingest;
using ServerlessOtlp.Gateway.Telemetry;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Wire;

namespace ServerlessOtlp.Benchmarks.Gateway;

/// <summary>
/// The gateway's in-process cost per export request of 100 SDK-shaped spans, without the
/// transport: <see cref="IngestService.IngestAsync"/> into a <see cref="MemoryLog"/> that drops
/// the bodies. The group-commit linger is set to zero so that the figure is CPU, not waiting;
/// the concurrent case lets parts of 32 requests share appends, as under load.
/// </summary>
[MemoryDiagnoser]
public class IngestBenchmarks
{
    private const int Concurrent = 32;

    private byte[] _request = [];
    private IngestService _ingest = null!;
    private GatewayMetrics _metrics = null!;
    private TenantRateLimiter _limiter = null!;
    private readonly Task<IngestResult>[] _tasks = new Task<IngestResult>[Concurrent];

    [Params(100)]
    public int Spans { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _request = SdkShapedTraces.Bytes(Spans);
        _metrics = new GatewayMetrics();
        _limiter = new TenantRateLimiter();
        var options = new GatewayOptions { FlushDelay = TimeSpan.Zero };
        _ingest = new IngestService(new MemoryLog(8) { DiscardBodies = true }, options, _metrics, _limiter);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _metrics.Dispose();
    }

    /// <summary>Reference: the splitter alone on the same bytes.</summary>
    [Benchmark(Baseline = true)]
    public int SplitOnly()
    {
        using var split = OtlpSplitter.Split(Signal.Traces, _request, 8);
        return split.RecordCount;
    }

    [Benchmark]
    public async Task<int> Ingest()
    {
        var result = await _ingest.IngestAsync("bench", null, Signal.Traces, _request);
        return result.Accepted;
    }

    [Benchmark(OperationsPerInvoke = Concurrent)]
    public async Task<int> Ingest32Concurrent()
    {
        for (int i = 0; i < Concurrent; i++)
        {
            _tasks[i] = _ingest.IngestAsync("bench", null, Signal.Traces, _request);
        }

        int accepted = 0;
        foreach (var t in _tasks)
        {
            accepted += (await t).Accepted;
        }

        return accepted;
    }
}
