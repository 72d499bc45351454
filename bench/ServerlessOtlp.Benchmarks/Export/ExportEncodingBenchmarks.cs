using System.Globalization;
using System.IO.Compression;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Logs.V1;
using OpenTelemetry.Proto.Resource.V1;
using ServerlessOtlp.Benchmarks.Pipeline;
using ServerlessOtlp.Export;
using ServerlessOtlp.Export.Loki;
using ServerlessOtlp.Export.Otlp;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Json;
using Snappier;

namespace ServerlessOtlp.Benchmarks.Export;

/// <summary>
/// The export path's CPU cost per request body (issue #5), on the drain's output: 400 SDK-shaped
/// spans of 4 services (<see cref="DrainPathBenchmarks.Event"/>).
/// <list type="bullet">
/// <item><b>otlphttp protobuf + gzip</b>, ours: the drain hands the exporter the encoded request,
/// which is gzipped as is (<see cref="OtlpHttpExporter"/>, level Fastest). Baseline: what a
/// client holding the message does — Google.Protobuf <c>ToByteArray</c> + <c>GZipStream</c> at
/// its default level.</item>
/// <item><b>otlphttp JSON</b>, ours: the wire-to-JSON transcoder (<see cref="OtlpJson"/>, spec
/// OTLP/JSON: hex ids). Baseline: decode + Google.Protobuf <c>JsonFormatter</c> (not
/// spec-exact: base64 ids, so a cost reference only).</item>
/// <item><b>loki protobuf</b> (1000 log records, 4 services): our <see cref="LokiPushRequest"/>
/// + snappy block, beside the JSON push body.</item>
/// </list>
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class ExportEncodingBenchmarks
{
    private byte[] _traces = [];
    private ExportTraceServiceRequest _tracesMessage = null!;
    private ExportLogsServiceRequest _logs = null!;

    [GlobalSetup]
    public void Setup()
    {
        _traces = DrainPathBenchmarks.Event(4);
        _tracesMessage = ExportTraceServiceRequest.Parser.ParseFrom(_traces);
        _logs = Logs(1000);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"// traces: {_traces.Length} B; gzip fastest {OtlpHttpGzip()} B, optimal {BaselineSerializeGzip()} B; JSON {OtlpHttpJson()} B"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"// logs: {_logs.CalculateSize()} B OTLP; loki protobuf+snappy {LokiProtobufSnappy()} B, JSON {LokiJson()} B"));
    }

    [Benchmark]
    [BenchmarkCategory("otlphttp protobuf gzip")]
    public int OtlpHttpGzip() => OtlpHttpExporter.Gzip(_traces).Length;

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("otlphttp protobuf gzip")]
    public int BaselineSerializeGzip()
    {
        byte[] bytes = _tracesMessage.ToByteArray();
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionMode.Compress, leaveOpen: true))
        {
            gzip.Write(bytes);
        }

        return (int)output.Length;
    }

    [Benchmark]
    [BenchmarkCategory("otlphttp json")]
    public int OtlpHttpJson() => OtlpJson.ProtobufToJson(Signal.Traces, _traces).Length;

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("otlphttp json")]
    public int BaselineDecodeJsonFormatter() => JsonFormatter.Default.Format(ExportTraceServiceRequest.Parser.ParseFrom(_traces)).Length;

    [Benchmark]
    [BenchmarkCategory("loki")]
    public int LokiProtobufSnappy() => Snappy.CompressToArray(LokiPushRequest.BuildProtobuf(_logs, ["service.name"], structuredMetadata: true).Body).Length;

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("loki")]
    public int LokiJson() => LokiPushRequest.Build(_logs, ["service.name"], structuredMetadata: true).Body.Length;

    private static ExportLogsServiceRequest Logs(int records)
    {
        var request = new ExportLogsServiceRequest();
        var random = new Random(7);
        for (int r = 0; r < 4; r++)
        {
            var resource = new Resource();
            resource.Attributes.Add(new KeyValue { Key = "service.name", Value = new AnyValue { StringValue = "svc-" + r.ToString(CultureInfo.InvariantCulture) } });
            resource.Attributes.Add(new KeyValue { Key = "host.name", Value = new AnyValue { StringValue = "node-" + r.ToString(CultureInfo.InvariantCulture) } });
            var scope = new ScopeLogs { Scope = new InstrumentationScope { Name = "Shop.Checkout.OrderService" } };
            ulong t = 1_760_000_000_000_000_000UL;
            for (int i = 0; i < records / 4; i++)
            {
                var traceId = new byte[16];
                var spanId = new byte[8];
                random.NextBytes(traceId);
                random.NextBytes(spanId);
                t += (ulong)random.Next(10_000, 5_000_000);
                scope.LogRecords.Add(new LogRecord
                {
                    TimeUnixNano = t,
                    ObservedTimeUnixNano = t + 1000,
                    SeverityNumber = SeverityNumber.Info,
                    SeverityText = "Information",
                    Body = new AnyValue { StringValue = "Order {OrderId} placed for {Amount} EUR" },
                    TraceId = ByteString.CopyFrom(traceId),
                    SpanId = ByteString.CopyFrom(spanId),
                    Attributes =
                    {
                        new KeyValue { Key = "OrderId", Value = new AnyValue { StringValue = random.Next(100_000, 999_999).ToString(CultureInfo.InvariantCulture) } },
                        new KeyValue { Key = "Amount", Value = new AnyValue { DoubleValue = random.Next(100, 99_999) / 100.0 } },
                    },
                });
            }

            var rl = new ResourceLogs { Resource = resource };
            rl.ScopeLogs.Add(scope);
            request.ResourceLogs.Add(rl);
        }

        return request;
    }
}
