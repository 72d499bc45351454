using System.Buffers;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Trace.V1;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Wire;

namespace ServerlessOtlp.Benchmarks.Otlp;

/// <summary>
/// The gateway's per-request hot path: split an OTLP/protobuf trace export by partition.
/// Every benchmark reads the same bytes: the wire splitter (with and without the wire check, and as it
/// was before issue 14), the Google.Protobuf path an implementation without a splitter would take, and
/// a plain copy of the bytes (a ceiling).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Columns))]
public class TraceSplitBenchmarks
{
    private byte[] _request = [];

    [Params(100, 1000)]
    public int Spans { get; set; }

    [Params(8, 32)]
    public int Partitions { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _request = SdkShapedTraces.Bytes(Spans);
        Console.WriteLine($"// request: {Spans} spans, {_request.Length} bytes, {Partitions} partitions");
    }

    [Benchmark]
    public int Splitter()
    {
        using var split = OtlpSplitter.Split(Signal.Traces, _request, Partitions);
        return split.RecordCount;
    }

    /// <summary>What the gateway now does per request: the wire check of the whole request (issue 14), then the split.</summary>
    [Benchmark]
    public int ValidateThenSplit()
    {
        OtlpWireValidator.Validate(Signal.Traces, _request);
        using var split = OtlpSplitter.Split(Signal.Traces, _request, Partitions);
        return split.RecordCount;
    }

    /// <summary>The wire check alone: framing, UTF-8, depth and attribute counts of every nested message.</summary>
    [Benchmark]
    public int Validator()
    {
        OtlpWireValidator.Validate(Signal.Traces, _request);
        return _request.Length;
    }

    /// <summary>The splitter before issue 14 (frozen copy): the same run's reference for what the bounds cost.</summary>
    [Benchmark]
    public int SplitterBeforeIssue14()
    {
        using var split = Before.OtlpSplitter.Split(Signal.Traces, _request, Partitions);
        return split.RecordCount;
    }

    [Benchmark(Baseline = true)]
    public int GoogleProtobuf_ParseRegroupSerialize()
    {
        var request = ExportTraceServiceRequest.Parser.ParseFrom(_request);
        var perPartition = new ExportTraceServiceRequest?[Partitions];
        var resourceOfPartition = new ResourceSpans?[Partitions];
        var scopeOfPartition = new ScopeSpans?[Partitions];
        foreach (var resourceSpans in request.ResourceSpans)
        {
            Array.Clear(resourceOfPartition);
            foreach (var scopeSpans in resourceSpans.ScopeSpans)
            {
                Array.Clear(scopeOfPartition);
                foreach (var span in scopeSpans.Spans)
                {
                    var traceId = span.TraceId.Span;
                    if (!PartitionFunction.IsValidTraceId(traceId))
                    {
                        continue;
                    }

                    int p = PartitionFunction.ForTraceId(traceId, Partitions);
                    var scope = scopeOfPartition[p];
                    if (scope is null)
                    {
                        var resource = resourceOfPartition[p];
                        if (resource is null)
                        {
                            resource = new ResourceSpans { Resource = resourceSpans.Resource?.Clone(), SchemaUrl = resourceSpans.SchemaUrl };
                            resourceOfPartition[p] = resource;
                            (perPartition[p] ??= new ExportTraceServiceRequest()).ResourceSpans.Add(resource);
                        }

                        scope = new ScopeSpans { Scope = scopeSpans.Scope?.Clone(), SchemaUrl = scopeSpans.SchemaUrl };
                        scopeOfPartition[p] = scope;
                        resource.ScopeSpans.Add(scope);
                    }

                    scope.Spans.Add(span);
                }
            }
        }

        int written = 0;
        foreach (var partitionRequest in perPartition)
        {
            if (partitionRequest is not null)
            {
                written += partitionRequest.ToByteArray().Length;
            }
        }

        return written;
    }

    [Benchmark]
    public int MemoryCopy()
    {
        var buffer = ArrayPool<byte>.Shared.Rent(_request.Length);
        _request.AsSpan().CopyTo(buffer);
        int first = buffer[0];
        ArrayPool<byte>.Shared.Return(buffer);
        return first;
    }

    private sealed class Columns : ManualConfig
    {
        public Columns()
        {
            AddColumn(StatisticColumn.OperationsPerSecond, new RequestThroughputColumn());
        }
    }
}
