using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Metrics.V1;
using OpenTelemetry.Proto.Resource.V1;
using ServerlessOtlp.Export.PrometheusRemoteWrite;
using ServerlessOtlp.Export.PrometheusRemoteWrite.Prompb;
using Histogram = OpenTelemetry.Proto.Metrics.V1.Histogram;
using Metric = OpenTelemetry.Proto.Metrics.V1.Metric;
using Summary = BenchmarkDotNet.Reports.Summary;

namespace ServerlessOtlp.Benchmarks.Export;

/// <summary>
/// The remote-write exporter's CPU path for one SDK-shaped request of 1000 data points (400
/// counter points, 400 gauge points, 200 histogram points with 10 bounds; 3,401 samples with
/// <c>target_info</c>): OTLP → series, and OTLP → series → protobuf → snappy (what is sent).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Columns))]
public class RemoteWriteConversionBenchmarks
{
    private const int CounterPoints = 400, GaugePoints = 400, HistogramPoints = 200;

    private static readonly double[] Bounds = [5, 10, 25, 50, 75, 100, 250, 500, 750, 1000];

    private ExportMetricsServiceRequest _request = null!;
    private RemoteWriteConverter _converter = null!;
    private SeriesStateStore _state = null!;

    /// <summary>Samples one conversion produces (set up once, read by the column).</summary>
    public static int SamplesPerRequest { get; private set; }

    [GlobalSetup]
    public void Setup()
    {
        _request = Request();
        _converter = new RemoteWriteConverter(new PrometheusRemoteWriteOptions());
        _state = new SeriesStateStore(); // never committed: every run converts from the same empty state
        SamplesPerRequest = Convert();
        Console.WriteLine($"// request: {CounterPoints + GaugePoints + HistogramPoints} data points, {_request.CalculateSize()} bytes, {SamplesPerRequest} samples");
    }

    [Benchmark(Baseline = true)]
    public int Convert() => _converter.Convert(_request, "acme\x1fprom", _state.Begin()).Samples;

    [Benchmark]
    public int ConvertSerializeSnappy()
    {
        var batch = _converter.Convert(_request, "acme\x1fprom", _state.Begin());
        var write = new WriteRequest();
        foreach (var s in batch.Series)
        {
            write.Timeseries.Add(s.Series);
        }

        write.Metadata.Add(batch.Metadata);
        byte[] body = RemoteWriteBody.Rent(write, out int length); // as the exporter sends it
        System.Buffers.ArrayPool<byte>.Shared.Return(body);
        return length;
    }

    internal static ExportMetricsServiceRequest Request()
    {
        ulong now = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000;
        var resource = new Resource();
        resource.Attributes.Add(Kv("service.name", "checkout"));
        resource.Attributes.Add(Kv("service.namespace", "shop"));
        resource.Attributes.Add(Kv("service.instance.id", "4f1c1c4e-2b3a-4c55-9d5e-0d7b9a1e6f21"));
        resource.Attributes.Add(Kv("host.name", "aks-node-12"));
        resource.Attributes.Add(Kv("telemetry.sdk.language", "dotnet"));
        var scope = new ScopeMetrics { Scope = new InstrumentationScope { Name = "Shop.Checkout", Version = "1.4.0" } };

        // Series of a metric differ by route and status, as in an HTTP server's metrics.
        var counter = new Metric { Name = "http.server.requests", Unit = "{request}", Sum = new Sum { IsMonotonic = true, AggregationTemporality = AggregationTemporality.Cumulative } };
        var gauge = new Metric { Name = "process.memory.usage", Unit = "By", Gauge = new Gauge() };
        var histogram = new Metric { Name = "http.server.request.duration", Unit = "ms", Histogram = new Histogram { AggregationTemporality = AggregationTemporality.Cumulative } };
        for (int i = 0; i < CounterPoints; i++)
        {
            var p = new NumberDataPoint { AsInt = 1000 + i, TimeUnixNano = now, StartTimeUnixNano = now - 60_000_000_000 };
            AddHttpAttributes(p.Attributes, i);
            counter.Sum.DataPoints.Add(p);
        }

        for (int i = 0; i < GaugePoints; i++)
        {
            var p = new NumberDataPoint { AsDouble = 1e6 + i, TimeUnixNano = now };
            AddHttpAttributes(p.Attributes, i);
            gauge.Gauge.DataPoints.Add(p);
        }

        for (int i = 0; i < HistogramPoints; i++)
        {
            var p = new HistogramDataPoint { TimeUnixNano = now, StartTimeUnixNano = now - 60_000_000_000, Count = 110, Sum = 5432.1 };
            p.ExplicitBounds.Add(Bounds);
            p.BucketCounts.Add([10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10]);
            AddHttpAttributes(p.Attributes, i);
            histogram.Histogram.DataPoints.Add(p);
        }

        scope.Metrics.Add([counter, gauge, histogram]);
        var rm = new ResourceMetrics { Resource = resource };
        rm.ScopeMetrics.Add(scope);
        var request = new ExportMetricsServiceRequest();
        request.ResourceMetrics.Add(rm);
        return request;
    }

    private static void AddHttpAttributes(Google.Protobuf.Collections.RepeatedField<KeyValue> attributes, int i)
    {
        attributes.Add(Kv("http.request.method", i % 3 == 0 ? "POST" : "GET"));
        attributes.Add(Kv("http.route", "/api/items/" + (i / 4)));
        attributes.Add(Kv("http.response.status_code", (200 + (i % 4)).ToString(CultureInfo.InvariantCulture)));
    }

    private static KeyValue Kv(string key, string value) => new() { Key = key, Value = new AnyValue { StringValue = value } };

    private sealed class Columns : ManualConfig
    {
        public Columns() => AddColumn(new ItemsPerSecondColumn("Samples/s", "Samples per request / mean time", _ =>
        {
            // The column runs in the host process: set the count up from the same request.
            if (SamplesPerRequest == 0)
            {
                new RemoteWriteConversionBenchmarks().Setup();
            }

            return SamplesPerRequest;
        }));
    }
}
