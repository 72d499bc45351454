using BenchmarkDotNet.Attributes;
using OpenTelemetry.Proto.Collector.Trace.V1;
using ServerlessOtlp.Benchmarks.Otlp;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Pipeline;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Benchmarks.Pipeline;

/// <summary>
/// The OTTL stage on the drain path: decode a trace export, run one transform statement and one
/// filter condition (compiled once, as per tenant config version), beside decoding alone.
/// Spans/s = Spans / mean time.
/// </summary>
[MemoryDiagnoser]
public class TenantTransformBenchmarks
{
    private readonly TenantTransformer _transformer = new();
    private byte[] _request = [];
    private TenantConfig _tenant = null!;

    [Params(1000)]
    public int Spans { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _request = SdkShapedTraces.Bytes(Spans);
        _tenant = new TenantConfig
        {
            Id = "bench",
            Version = 1,
            Transforms = new OttlStatements { Traces = ["set(span.attributes[\"env\"], resource.attributes[\"service.namespace\"]) where span.kind == SPAN_KIND_SERVER"] },
            Filters = new OttlStatements { Traces = ["span.attributes[\"url.path\"] == \"/health\""] },
        };
    }

    [Benchmark(Baseline = true)]
    public int DecodeOnly() => ExportTraceServiceRequest.Parser.ParseFrom(_request).ResourceSpans.Count;

    [Benchmark]
    public int DecodeTransformFilter()
    {
        var request = ExportTraceServiceRequest.Parser.ParseFrom(_request);
        return _transformer.Apply(_tenant, Signal.Traces, request).ItemsOut;
    }
}
