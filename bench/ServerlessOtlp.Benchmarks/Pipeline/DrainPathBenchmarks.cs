using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Common.V1;
using ServerlessOtlp.Benchmarks.Otlp;
using ServerlessOtlp.Export;
using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Wire;
using ServerlessOtlp.Pipeline;
using ServerlessOtlp.Pipeline.Sampling;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Tenants;
using Summary = BenchmarkDotNet.Reports.Summary;

namespace ServerlessOtlp.Benchmarks.Pipeline;

/// <summary>
/// The drain's CPU path for one log event (issue #4): 10 % consistent head sampling, one OTTL
/// transform, encode. The event is <see cref="Resources"/> SDK-shaped 100-span requests of
/// different services merged as the gateway merges them (concatenated ResourceSpans records).
/// <list type="bullet">
/// <item><b>ours</b>: <see cref="WireSampler"/> on the wire (dropped spans are never decoded) →
/// Google.Protobuf decode of the kept part → <see cref="TenantTransformer"/> → encode.</item>
/// <item><b>baseline</b>: decode everything → sample the decoded spans with the same
/// <see cref="TraceSampler"/> (drop, or set the new trace state) → same transform → encode.</item>
/// </list>
/// Input spans/s = input spans / mean time (one operation runs on one thread: per core).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Columns))]
public class DrainPathBenchmarks
{
    public const int SpansPerRequest = 100;

    private readonly TenantTransformer _transformer = new();
    private byte[] _event = [];
    private byte[] _kept = [];
    private TenantConfig _tenant = null!;
    private TraceSampler _sampler = null!;
    private ReadEvent _readEvent = null!;
    private IEventProcessor _pipeline = null!;

    /// <summary>Requests (services) merged into the event.</summary>
    [Params(4)]
    public int Resources { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _event = Event(Resources);
        var sampling = new TraceSamplingConfig { SamplingPercentage = 10 };
        _sampler = TraceSampler.For(sampling)!;
        _tenant = new TenantConfig
        {
            Id = "bench",
            Version = 1,
            Sampling = new SamplingConfig { Traces = sampling },
            Transforms = new OttlStatements { Traces = ["set(span.attributes[\"env\"], \"prod\")"] },
        };
        using (var kept = new PooledBuffer(_event.Length))
        {
            var counts = WireSampler.SampleTraces(_event, _sampler, kept);
            _kept = kept.WrittenSpan.ToArray();
            Console.WriteLine($"// kept {counts.Kept} of {counts.Kept + counts.Dropped} spans");
        }

        _tenant = _tenant with { Destinations = [new DestinationConfig { Name = "out", Kind = FileDestination.KindName, Signals = [Signal.Traces], Settings = new FileSettings { Path = "unused" } }] };
        _readEvent = new ReadEvent(new LogPosition(0), new LogPosition(1), new EventProperties("bench", Signal.Traces, BodyCodec.Protobuf, Resources * SpansPerRequest, DateTimeOffset.UtcNow, "bench"), _event);
        _pipeline = new TenantEventProcessor(new InMemoryTenantDirectory(new TenantFile { Tenants = [_tenant] }), [new DiscardingExporter()], new NoDeadLetters());
        int ours = WireSampledDecodeTransformEncode(), baseline = DecodeAllSampleTransformEncode();
        Console.WriteLine($"// event: {Resources} x {SpansPerRequest} spans, {_event.Length} bytes; output {ours} B (ours) / {baseline} B (baseline)");
    }

    [Benchmark]
    public int WireSampledDecodeTransformEncode()
    {
        using var kept = new PooledBuffer(_event.Length);
        var counts = WireSampler.SampleTraces(_event, _sampler, kept);
        if (counts.Kept == 0)
        {
            return 0;
        }

        var request = ExportTraceServiceRequest.Parser.ParseFrom(kept.WrittenSpan);
        _transformer.Apply(_tenant, Signal.Traces, request);
        return request.ToByteArray().Length;
    }

    /// <summary>
    /// The same event through the drain's whole tenant pipeline (tenant lookup, wire sampling, decode,
    /// transform, routing, export to a destination that discards, settling): what the pipeline's own
    /// plumbing adds to <see cref="WireSampledDecodeTransformEncode"/>.
    /// </summary>
    [Benchmark]
    public async Task<int> TenantPipeline_SampleDecodeTransformExport() => (int)await _pipeline.ProcessAsync(0, _readEvent);

    /// <summary>Stage of ours: the wire sampling alone.</summary>
    [Benchmark]
    public int Stage_WireSample()
    {
        using var kept = new PooledBuffer(_event.Length);
        return WireSampler.SampleTraces(_event, _sampler, kept).Kept;
    }

    /// <summary>Stage of ours: decode, transform and encode the kept part alone.</summary>
    [Benchmark]
    public int Stage_DecodeTransformEncodeKept()
    {
        var request = ExportTraceServiceRequest.Parser.ParseFrom(_kept);
        _transformer.Apply(_tenant, Signal.Traces, request);
        return request.ToByteArray().Length;
    }

    [Benchmark]
    public int Stage_DecodeKept() => ExportTraceServiceRequest.Parser.ParseFrom(_kept).ResourceSpans.Count;

    [Benchmark]
    public int Stage_DecodeTransformKept()
    {
        var request = ExportTraceServiceRequest.Parser.ParseFrom(_kept);
        return _transformer.Apply(_tenant, Signal.Traces, request).ItemsOut;
    }

    [Benchmark(Baseline = true)]
    public int DecodeAllSampleTransformEncode()
    {
        var request = ExportTraceServiceRequest.Parser.ParseFrom(_event);
        for (int r = request.ResourceSpans.Count - 1; r >= 0; r--)
        {
            var scopes = request.ResourceSpans[r].ScopeSpans;
            for (int s = scopes.Count - 1; s >= 0; s--)
            {
                var spans = scopes[s].Spans;
                for (int i = spans.Count - 1; i >= 0; i--)
                {
                    var span = spans[i];
                    string? state = span.TraceState.Length == 0 ? null : span.TraceState;
                    var decision = _sampler.Decide(span.TraceId.Span, state);
                    if (!decision.Keep)
                    {
                        spans.RemoveAt(i);
                    }
                    else
                    {
                        span.TraceState = OtelTraceState.WithThreshold(state, decision.Threshold);
                    }
                }

                if (spans.Count == 0)
                {
                    scopes.RemoveAt(s);
                }
            }

            if (scopes.Count == 0)
            {
                request.ResourceSpans.RemoveAt(r);
            }
        }

        if (request.ResourceSpans.Count == 0)
        {
            return 0;
        }

        _transformer.Apply(_tenant, Signal.Traces, request);
        return request.ToByteArray().Length;
    }

    /// <summary>The event body: one SDK-shaped request per service, with its own trace ids, concatenated.</summary>
    public static byte[] Event(int resources)
    {
        var body = new MemoryStream();
        for (int r = 0; r < resources; r++)
        {
            var request = SdkShapedTraces.Build(SpansPerRequest);
            var rs = request.ResourceSpans[0];
            foreach (var kv in rs.Resource.Attributes)
            {
                if (kv.Key is "service.name" or "host.name")
                {
                    kv.Value = new AnyValue { StringValue = kv.Value.StringValue + "-" + r.ToString(CultureInfo.InvariantCulture) };
                }
            }

            // Distinct traces per service (the builder's seed is fixed): flip bytes of the trace id's random part.
            foreach (var span in rs.ScopeSpans.SelectMany(s => s.Spans))
            {
                var id = span.TraceId.ToByteArray();
                for (int i = 8; i < 16; i++)
                {
                    id[i] ^= (byte)(0x5b * (r + 1) + i);
                }

                span.TraceId = ByteString.CopyFrom(id);
            }

            request.WriteTo(body);
        }

        return body.ToArray();
    }

    /// <summary>A destination that takes everything and sends nothing.</summary>
    private sealed class DiscardingExporter : IDestinationExporter
    {
        public string Kind => FileDestination.KindName;

        public Task<ExportOutcome> ExportAsync(ExportRequest request, CancellationToken cancellationToken = default) => Task.FromResult(ExportOutcome.Ok);
    }

    /// <summary>Nothing is dead-lettered here; a write would mean the benchmark measures the wrong path.</summary>
    private sealed class NoDeadLetters : DeadLetterStore
    {
        public override Task<string> WriteAsync(string? tenant, string? destination, Signal? signal, int partition, long position, string reason, ReadOnlyMemory<byte> body, CancellationToken cancellationToken = default) =>
            throw new InvalidOperationException("dead-lettered: " + reason);
    }

    private sealed class Columns : ManualConfig
    {
        public Columns() => AddColumn(new ItemsPerSecondColumn(
            "Input spans/s",
            "Input spans per event / mean time (one thread)",
            c => c.Parameters["Resources"] is int resources ? resources * SpansPerRequest : null));
    }
}
