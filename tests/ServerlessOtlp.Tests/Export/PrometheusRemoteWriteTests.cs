using System.Diagnostics.Metrics;
using Google.Protobuf;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Metrics.V1;
using OpenTelemetry.Proto.Resource.V1;
using OpenTelemetry.Resources;
using ServerlessOtlp.Export;
using ServerlessOtlp.Export.PrometheusRemoteWrite;
using ServerlessOtlp.Export.PrometheusRemoteWrite.Prompb;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tenants;
using Snappier;
using AggregationTemporality = OpenTelemetry.Proto.Metrics.V1.AggregationTemporality;
using Metric = OpenTelemetry.Proto.Metrics.V1.Metric;
using Resource = OpenTelemetry.Proto.Resource.V1.Resource;

namespace ServerlessOtlp.Tests.Export;

/// <summary>Naming, conversion and answers, without a backend.</summary>
public sealed class PrometheusRemoteWriteConversionTests
{
    [Theory]
    [InlineData("http.server.duration", "ms", PrometheusMetricType.Histogram, "http_server_duration_milliseconds")]
    [InlineData("http.server.request.duration", "s", PrometheusMetricType.Histogram, "http_server_request_duration_seconds")]
    [InlineData("requests", "{request}", PrometheusMetricType.Counter, "requests_total")]
    [InlineData("system.io", "By", PrometheusMetricType.Counter, "system_io_bytes_total")]
    [InlineData("room.temperature", "Cel", PrometheusMetricType.Gauge, "room_temperature_celsius")]
    [InlineData("cpu.utilization", "1", PrometheusMetricType.Gauge, "cpu_utilization_ratio")]
    [InlineData("cpu.utilization", "1", PrometheusMetricType.Counter, "cpu_utilization_total")]
    [InlineData("network.rate", "By/s", PrometheusMetricType.Gauge, "network_rate_bytes_per_second")]
    [InlineData("events", "1/s", PrometheusMetricType.Gauge, "events_per_second")]
    [InlineData("packets", "{packet}/s", PrometheusMetricType.Gauge, "packets_per_second")]
    [InlineData("duration_seconds", "s", PrometheusMetricType.Histogram, "duration_seconds")]
    [InlineData("jobs.total", "", PrometheusMetricType.Counter, "jobs_total")]
    [InlineData("total.jobs", "", PrometheusMetricType.Counter, "jobs_total")]
    [InlineData("2xx.count", "", PrometheusMetricType.Gauge, "_2xx_count")]
    [InlineData("a..b--c__d", "", PrometheusMetricType.Gauge, "a_b_c_d")]
    [InlineData("queue.size", "widgets", PrometheusMetricType.Gauge, "queue_size_widgets")]
    [InlineData("disk.usage", "MiBy", PrometheusMetricType.Gauge, "disk_usage_mebibytes")]
    [InlineData("rpc.latency", "us", PrometheusMetricType.Summary, "rpc_latency_microseconds")]
    public void Metric_names_follow_the_specification(string name, string unit, PrometheusMetricType type, string expected) =>
        Assert.Equal(expected, PrometheusNaming.MetricName(name, unit, type));

    [Theory]
    [InlineData("http.method", "http_method")]
    [InlineData("0abc", "key_0abc")]
    [InlineData("_private", "key_private")]
    [InlineData("__name__", "__name__")]
    [InlineData("a-b/c d", "a_b_c_d")]
    [InlineData("ünï", "key_n_")]
    [InlineData("Already_ok9", "Already_ok9")]
    public void Label_names_are_sanitized(string name, string expected) =>
        Assert.Equal(expected, PrometheusNaming.LabelName(name));

    [Theory]
    [InlineData(0.005, "0.005")]
    [InlineData(1e-5, "1e-05")]
    [InlineData(100.0, "100")]
    [InlineData(2.5, "2.5")]
    [InlineData(double.PositiveInfinity, "+Inf")]
    public void Bounds_are_formatted_like_Prometheus_clients(double value, string expected) =>
        Assert.Equal(expected, PrometheusNaming.FormatFloat(value));

    [Theory]
    [InlineData(204, "", "Success")]
    [InlineData(200, "", "Success")]
    [InlineData(400, "out of order sample", "Refused")]
    [InlineData(400, "duplicate sample for timestamp", "Refused")]
    [InlineData(400, "out of bounds", "Refused")]
    [InlineData(400, "err-mimir-sample-out-of-order", "Refused")]
    [InlineData(400, "invalid labels", "Permanent")]
    [InlineData(401, "", "Permanent")]
    [InlineData(404, "", "Permanent")]
    [InlineData(413, "", "Permanent")]
    [InlineData(429, "", "Transient")]
    [InlineData(500, "", "Transient")]
    [InlineData(503, "out of order", "Transient")]
    public void Answers_are_classified(int status, string body, string expected) =>
        Assert.Equal(expected, PrometheusRemoteWriteExporter.Classify(status, body).ToString());

    [Fact]
    public void Every_metric_type_becomes_its_Prometheus_series()
    {
        var store = new SeriesStateStore();
        var batch = Convert(store, AllTypes(TestMetrics.NowNs()));
        var series = Series(batch);

        // Gauge, scope labels, job = namespace/name, instance; labels sorted by name.
        var gauge = Assert.Single(series, s => s.Name == "room_temperature_celsius");
        Assert.Equal(["__name__", "instance", "job", "otel_scope_name", "otel_scope_version", "room"], gauge.Labels.Keys.ToArray());
        Assert.Equal("shop/checkout", gauge.Labels["job"]);
        Assert.Equal("i-1", gauge.Labels["instance"]);
        Assert.Equal("lib", gauge.Labels["otel_scope_name"]);
        Assert.Equal("1.2", gauge.Labels["otel_scope_version"]);
        Assert.Equal(21.5, gauge.Value);

        Assert.Equal(7, Assert.Single(series, s => s.Name == "orders_total").Value);
        Assert.Equal(-3, Assert.Single(series, s => s.Name == "queue_depth").Value); // non-monotonic sum: gauge, no _total

        var buckets = series.Where(s => s.Name == "latency_milliseconds_bucket").ToDictionary(s => s.Labels["le"], s => s.Value);
        Assert.Equal(new Dictionary<string, double> { ["10"] = 1, ["100"] = 3, ["+Inf"] = 4 }, buckets);
        Assert.Equal(555, Assert.Single(series, s => s.Name == "latency_milliseconds_sum").Value);
        Assert.Equal(4, Assert.Single(series, s => s.Name == "latency_milliseconds_count").Value);

        var quantiles = series.Where(s => s.Name == "rpc_seconds" && s.Labels.ContainsKey("quantile")).ToDictionary(s => s.Labels["quantile"], s => s.Value);
        Assert.Equal(new Dictionary<string, double> { ["0.5"] = 0.1, ["0.99"] = 0.9 }, quantiles);
        Assert.Equal(10, Assert.Single(series, s => s.Name == "rpc_seconds_count").Value);
        Assert.Equal(2, Assert.Single(series, s => s.Name == "rpc_seconds_sum").Value);

        // Exponential, scale 0: zero bucket (le 0) 1, (1,2] 1, (2,4] 2.
        var exp = series.Where(s => s.Name == "size_bytes_bucket").ToDictionary(s => s.Labels["le"], s => s.Value);
        Assert.Equal(new Dictionary<string, double> { ["0"] = 1, ["2"] = 2, ["4"] = 4, ["+Inf"] = 4 }, exp);

        // target_info: the resource's other attributes, job and instance; no service.* labels.
        var info = Assert.Single(series, s => s.Name == "target_info");
        Assert.Equal(["__name__", "deployment_environment", "host_name", "instance", "job"], info.Labels.Keys.ToArray());
        Assert.Equal(1, info.Value);

        Assert.Contains(batch.Metadata, m => m.MetricFamilyName == "orders_total" && m.Type == MetricMetadata.Types.MetricType.Counter);
        Assert.Contains(batch.Metadata, m => m.MetricFamilyName == "latency_milliseconds" && m.Unit == "milliseconds");
        foreach (var s in batch.Series)
        {
            var names = s.Series.Labels.Select(l => l.Name).ToList();
            Assert.Equal(names.Order(StringComparer.Ordinal), names);
        }
    }

    [Fact]
    public void Attributes_colliding_after_sanitization_are_joined_in_key_order()
    {
        var request = TestMetrics.Request(TestMetrics.Gauge("g", "", 1, TestMetrics.NowNs(), ("a_b", "2"), ("a.b", "1")));
        var series = Series(Convert(new SeriesStateStore(), request));
        Assert.Equal("1;2", Assert.Single(series, s => s.Name == "g").Labels["a_b"]);
    }

    [Fact]
    public void Delta_sums_are_accumulated_only_when_committed_and_replays_are_dropped()
    {
        var store = new SeriesStateStore();
        ulong t0 = TestMetrics.NowNs();
        var first = TestMetrics.Request(TestMetrics.Sum("hits", "", 5, t0, monotonic: true, delta: true));
        var second = TestMetrics.Request(TestMetrics.Sum("hits", "", 3, t0 + 1_000_000_000, monotonic: true, delta: true));

        // Not committed (the send failed): converting again gives the same total, not double.
        Assert.Equal(5, Single(Convert(store, first, commit: false), "hits_total"));
        Assert.Equal(5, Single(Convert(store, first), "hits_total"));
        Assert.Equal(8, Single(Convert(store, second), "hits_total"));

        // A replay of either is dropped and counted, the total stays.
        var replay = Convert(store, first);
        Assert.Empty(replay.Series);
        Assert.Single(replay.DroppedPoints);
        Assert.Empty(Convert(store, second).Series);

        // The state survives a handoff.
        var restored = new SeriesStateStore();
        restored.Restore(store.Snapshot()!);
        var third = TestMetrics.Request(TestMetrics.Sum("hits", "", 2, t0 + 2_000_000_000, monotonic: true, delta: true));
        Assert.Equal(10, Single(Convert(restored, third), "hits_total"));
    }

    [Fact]
    public void Delta_histograms_are_accumulated_per_bucket()
    {
        var store = new SeriesStateStore();
        ulong t0 = TestMetrics.NowNs();
        Convert(store, TestMetrics.Request(TestMetrics.Histogram("lat", "ms", t0, [10, 100], [1, 2, 0], sum: 60, delta: true)));
        var series = Series(Convert(store, TestMetrics.Request(TestMetrics.Histogram("lat", "ms", t0 + 1_000_000_000, [10, 100], [0, 1, 1], sum: 500, delta: true))));
        var buckets = series.Where(s => s.Name == "lat_milliseconds_bucket").ToDictionary(s => s.Labels["le"], s => s.Value);
        Assert.Equal(new Dictionary<string, double> { ["10"] = 1, ["100"] = 4, ["+Inf"] = 5 }, buckets);
        Assert.Equal(560, Assert.Single(series, s => s.Name == "lat_milliseconds_sum").Value);
    }

    [Fact]
    public void Delta_exponential_histograms_merge_at_the_coarser_scale()
    {
        var store = new SeriesStateStore();
        ulong t0 = TestMetrics.NowNs();
        // Scale 1: buckets (2^0.5, 2^1], (2^1, 2^1.5] at indexes 1, 2; scale 0 merges them into (1,2], (2,4].
        Convert(store, TestMetrics.Request(TestMetrics.Exponential("size", "By", t0, scale: 1, zeroCount: 0, offset: 1, [1, 1], delta: true)));
        var series = Series(Convert(store, TestMetrics.Request(TestMetrics.Exponential("size", "By", t0 + 1_000_000_000, scale: 0, zeroCount: 0, offset: 1, [3], delta: true))));
        var buckets = series.Where(s => s.Name == "size_bytes_bucket").ToDictionary(s => s.Labels["le"], s => s.Value);
        Assert.Equal(new Dictionary<string, double> { ["2"] = 1, ["4"] = 5, ["+Inf"] = 5 }, buckets);
    }

    [Fact]
    public void Exponential_histograms_become_native_histograms_when_asked()
    {
        var converter = new RemoteWriteConverter(new PrometheusRemoteWriteOptions { NativeHistograms = true });
        var request = TestMetrics.Request(TestMetrics.Exponential("size", "By", TestMetrics.NowNs(), scale: 10, zeroCount: 1, offset: 0, [1, 2]));
        var batch = converter.Convert(request, "t\x1fd", new SeriesStateStore().Begin());
        var ts = Assert.Single(batch.Series, s => s.Series.Histograms.Count > 0).Series;
        var h = Assert.Single(ts.Histograms);
        Assert.Equal(8, h.Schema); // clamped: indexes 0 and 1 at scale 10 both fall in index 0 at scale 8
        Assert.Equal(4UL, h.CountInt);
        Assert.Equal(1UL, h.ZeroCountInt);
        Assert.Equal(1, Assert.Single(h.PositiveSpans).Offset);
        Assert.Equal([3L], h.PositiveDeltas);
    }

    [Fact]
    public async Task The_request_is_snappy_protobuf_with_the_remote_write_headers()
    {
        await using var receiver = await CapturingHttpReceiver.StartAsync();
        var exporter = new PrometheusRemoteWriteExporter(TestEgress.LoopbackServices);
        var outcome = await exporter.ExportAsync(TestMetrics.Export(AllTypes(TestMetrics.NowNs()), new Uri(receiver.Uri, "/"), ("X-Scope-OrgID", "acme")));
        Assert.Equal(ExportStatus.Success, outcome.Status);

        var request = Assert.Single(receiver.Requests);
        Assert.Equal("/api/v1/write", request.Path); // the default path for an endpoint without one
        Assert.Equal("application/x-protobuf", request.Headers["Content-Type"]);
        Assert.Equal("snappy", request.Headers["Content-Encoding"]);
        Assert.Equal("0.1.0", request.Headers["X-Prometheus-Remote-Write-Version"]);
        Assert.StartsWith("ServerlessOtlp/", request.Headers["User-Agent"], StringComparison.Ordinal);
        Assert.Equal("acme", request.Headers["X-Scope-OrgID"]);
        var write = WriteRequest.Parser.ParseFrom(Snappy.DecompressToArray(request.Body));
        Assert.Contains(write.Timeseries, t => t.Labels.Any(l => l.Name == "__name__" && l.Value == "orders_total"));
        Assert.NotEmpty(write.Metadata);
    }

    [Fact]
    public async Task Failures_are_transient_or_permanent_and_refused_samples_are_dropped()
    {
        await using var receiver = await CapturingHttpReceiver.StartAsync();
        var exporter = new PrometheusRemoteWriteExporter(TestEgress.LoopbackServices);
        var export = TestMetrics.Export(AllTypes(TestMetrics.NowNs()), new Uri(receiver.Uri, "/api/v1/write"));

        receiver.Answer = _ => (503, "overloaded", new Dictionary<string, string> { ["Retry-After"] = "7" });
        var transient = await exporter.ExportAsync(export);
        Assert.Equal(ExportStatus.Transient, transient.Status);
        Assert.Equal(TimeSpan.FromSeconds(7), transient.RetryAfter);

        receiver.Answer = _ => (401, "no", null);
        Assert.Equal(ExportStatus.Permanent, (await exporter.ExportAsync(export)).Status);

        // Everything refused as out of order: split down to single series, all dropped, not dead-lettered.
        receiver.Answer = _ => (400, "out of order sample", null);
        var refused = await exporter.ExportAsync(export);
        Assert.Equal(ExportStatus.Success, refused.Status);
        Assert.Equal(6, refused.RejectedItems); // every data point of the request (target_info is not one)
    }

    internal static ExportMetricsServiceRequest AllTypes(ulong t) => TestMetrics.Request(
        TestMetrics.Gauge("room.temperature", "Cel", 21.5, t, ("room", "kitchen")),
        TestMetrics.Sum("orders", "{order}", 7, t, monotonic: true, delta: false),
        TestMetrics.Sum("queue.depth", "", -3, t, monotonic: false, delta: false),
        TestMetrics.Histogram("latency", "ms", t, [10, 100], [1, 2, 1], sum: 555, delta: false),
        TestMetrics.Summary("rpc", "s", t),
        TestMetrics.Exponential("size", "By", t, scale: 0, zeroCount: 1, offset: 0, [1, 2]));

    private static RemoteWriteBatch Convert(SeriesStateStore store, ExportMetricsServiceRequest request, bool commit = true)
    {
        var batch = new RemoteWriteConverter(new PrometheusRemoteWriteOptions()).Convert(request, "acme\x1fprom", store.Begin());
        if (commit)
        {
            batch.State.Commit();
        }

        return batch;
    }

    private static double Single(RemoteWriteBatch batch, string name) => Assert.Single(Series(batch), s => s.Name == name).Value;

    private static List<(string Name, Dictionary<string, string> Labels, double Value)> Series(RemoteWriteBatch batch) =>
        batch.Series.Select(s => (
            s.Series.Labels.Single(l => l.Name == "__name__").Value,
            s.Series.Labels.ToDictionary(l => l.Name, l => l.Value),
            s.Series.Samples.Count > 0 ? s.Series.Samples[^1].Value : double.NaN)).ToList();
}

/// <summary>OTLP metrics built with the generated types.</summary>
internal static class TestMetrics
{
    public static ulong NowNs() => (ulong)(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000);

    public static ExportMetricsServiceRequest Request(params Metric[] metrics) => Request("checkout", metrics);

    public static ExportMetricsServiceRequest Request(string service, params Metric[] metrics)
    {
        var resource = new Resource();
        resource.Attributes.Add(Kv("service.name", service));
        resource.Attributes.Add(Kv("service.namespace", "shop"));
        resource.Attributes.Add(Kv("service.instance.id", "i-1"));
        resource.Attributes.Add(Kv("host.name", "h1"));
        resource.Attributes.Add(Kv("deployment.environment", "test"));
        var scope = new ScopeMetrics { Scope = new InstrumentationScope { Name = "lib", Version = "1.2" } };
        scope.Metrics.Add(metrics);
        var rm = new ResourceMetrics { Resource = resource };
        rm.ScopeMetrics.Add(scope);
        var request = new ExportMetricsServiceRequest();
        request.ResourceMetrics.Add(rm);
        return request;
    }

    public static ExportRequest Export(ExportMetricsServiceRequest request, Uri endpoint, params (string Name, string Value)[] headers) => new(
        new TenantConfig { Id = "acme" },
        new DestinationConfig
        {
            Name = "prom",
            Kind = RemoteWriteDestination.KindName,
            Signals = [Signal.Metrics],
            Endpoint = endpoint.ToString(),
            Headers = headers.ToDictionary(h => h.Name, h => h.Value),
        },
        Signal.Metrics,
        request,
        request.ToByteArray());

    public static KeyValue Kv(string key, string value) => new() { Key = key, Value = new AnyValue { StringValue = value } };

    public static Metric Gauge(string name, string unit, double value, ulong t, params (string Key, string Value)[] attributes)
    {
        var p = new NumberDataPoint { AsDouble = value, TimeUnixNano = t };
        p.Attributes.Add(attributes.Select(a => Kv(a.Key, a.Value)));
        var m = new Metric { Name = name, Unit = unit, Gauge = new Gauge() };
        m.Gauge.DataPoints.Add(p);
        return m;
    }

    public static Metric Sum(string name, string unit, long value, ulong t, bool monotonic, bool delta)
    {
        var m = new Metric
        {
            Name = name,
            Unit = unit,
            Sum = new Sum { IsMonotonic = monotonic, AggregationTemporality = delta ? AggregationTemporality.Delta : AggregationTemporality.Cumulative },
        };
        m.Sum.DataPoints.Add(new NumberDataPoint { AsInt = value, TimeUnixNano = t });
        return m;
    }

    public static Metric Histogram(string name, string unit, ulong t, double[] bounds, ulong[] counts, double sum, bool delta)
    {
        var p = new HistogramDataPoint { TimeUnixNano = t, Count = (ulong)counts.Sum(c => (long)c), Sum = sum };
        p.ExplicitBounds.Add(bounds);
        p.BucketCounts.Add(counts);
        var m = new Metric
        {
            Name = name,
            Unit = unit,
            Histogram = new OpenTelemetry.Proto.Metrics.V1.Histogram { AggregationTemporality = delta ? AggregationTemporality.Delta : AggregationTemporality.Cumulative },
        };
        m.Histogram.DataPoints.Add(p);
        return m;
    }

    public static Metric Summary(string name, string unit, ulong t)
    {
        var p = new SummaryDataPoint { TimeUnixNano = t, Count = 10, Sum = 2 };
        p.QuantileValues.Add(new SummaryDataPoint.Types.ValueAtQuantile { Quantile = 0.5, Value = 0.1 });
        p.QuantileValues.Add(new SummaryDataPoint.Types.ValueAtQuantile { Quantile = 0.99, Value = 0.9 });
        var m = new Metric { Name = name, Unit = unit, Summary = new Summary() };
        m.Summary.DataPoints.Add(p);
        return m;
    }

    public static Metric Exponential(string name, string unit, ulong t, int scale, ulong zeroCount, int offset, ulong[] counts, bool delta = false)
    {
        var p = new ExponentialHistogramDataPoint
        {
            TimeUnixNano = t,
            Scale = scale,
            ZeroCount = zeroCount,
            Count = zeroCount + (ulong)counts.Sum(c => (long)c),
            Sum = 10,
            Positive = new ExponentialHistogramDataPoint.Types.Buckets { Offset = offset },
        };
        p.Positive.BucketCounts.Add(counts);
        var m = new Metric
        {
            Name = name,
            Unit = unit,
            ExponentialHistogram = new ExponentialHistogram { AggregationTemporality = delta ? AggregationTemporality.Delta : AggregationTemporality.Cumulative },
        };
        m.ExponentialHistogram.DataPoints.Add(p);
        return m;
    }
}

/// <summary>Through a real Prometheus: what PromQL finds after the exporter wrote.</summary>
public sealed class PrometheusRemoteWriteTests(PrometheusFixture prometheus) : IClassFixture<PrometheusFixture>
{
    /// <summary>
    /// The request behind the remote-write golden hash, decoded by Prometheus (an implementation that is
    /// not ours), against values derived by hand from the OTLP input and the specification's naming rules.
    /// </summary>
    [Fact]
    public async Task The_golden_request_reads_back_from_Prometheus_as_the_specification_names_it()
    {
        string service = "golden" + Guid.NewGuid().ToString("N")[..8];
        var request = RemoteWriteGoldenTests.Request(TestMetrics.NowNs(), service);
        var outcome = await new PrometheusRemoteWriteExporter(TestEgress.LoopbackServices).ExportAsync(TestMetrics.Export(request, prometheus.WriteUri));
        Assert.True(outcome.Status == ExportStatus.Success, $"{outcome}\n{prometheus.Log}");

        string job = $"job=\"shop/{service}\"";
        async Task<double> One(string query) => Assert.Single(await prometheus.QueryAsync(query)).Value;

        Assert.Equal(21.5, await One($"room_temperature_celsius{{{job},room=\"kitchen\"}}"));
        Assert.Equal(7, await One($"orders_total{{{job}}}"));
        Assert.Equal(5, await One($"hits_total{{{job}}}")); // a delta sum's first point is its cumulative total
        Assert.Equal(-3, await One($"queue_depth{{{job}}}")); // a non-monotonic sum is a gauge
        // "a.b" and "a_b" both sanitize to a_b: the values are joined with ';' in the order of the original keys.
        var g = Assert.Single(await prometheus.QueryAsync($"g{{{job}}}"));
        Assert.Equal(("1;2", 1.0), (g.Labels["a_b"], g.Value));
        Assert.DoesNotContain("z", g.Labels.Keys); // an empty value is no label

        var dlat = (await prometheus.QueryAsync($"dlat_seconds_bucket{{{job}}}")).ToDictionary(r => r.Labels["le"], r => r.Value);
        Assert.Equal(new Dictionary<string, double> { ["0.5"] = 1, ["1"] = 3, ["+Inf"] = 3 }, dlat);
        Assert.Equal(1.5, await One($"dlat_seconds_sum{{{job}}}"));
        Assert.Equal(3, await One($"dlat_seconds_count{{{job}}}"));

        // Exponential histograms become classic buckets at their bucket bounds: scale 0, offset 0, counts [1, 2]
        // are (1, 2] and (2, 4], below them the zero bucket; scale 3 bounds are 2^(k/8).
        var size = (await prometheus.QueryAsync($"size_bytes_bucket{{{job}}}")).ToDictionary(r => r.Labels["le"], r => r.Value);
        Assert.Equal(new Dictionary<string, double> { ["0"] = 1, ["2"] = 2, ["4"] = 4, ["+Inf"] = 4 }, size);
        var dsize = (await prometheus.QueryAsync($"dsize_bytes_bucket{{{job}}}")).ToDictionary(r => r.Labels["le"], r => r.Value);
        Assert.Equal([1, 3, 6, 6], dsize.OrderBy(kv => kv.Key == "+Inf" ? double.PositiveInfinity : double.Parse(kv.Key, System.Globalization.CultureInfo.InvariantCulture)).Select(kv => kv.Value));

        // Several points of one series: the newest by timestamp is what Prometheus answers (values 100 + i, time t + (i % 3) ms).
        var requests = (await prometheus.QueryAsync($"requests_total{{{job}}}")).ToDictionary(r => r.Labels["route"] + " " + r.Labels["method"], r => r.Value);
        Assert.Equal(new Dictionary<string, double> { ["/r/0 GET"] = 108, ["/r/1 POST"] = 105, ["/r/2 GET"] = 102, ["/r/3 POST"] = 111 }, requests);
        var quantiles = (await prometheus.QueryAsync($"rpc_seconds{{{job}}}")).ToDictionary(r => r.Labels["quantile"], r => r.Value);
        Assert.Equal(new Dictionary<string, double> { ["0.5"] = 0.1, ["0.99"] = 0.9 }, quantiles);

        // A histogram whose bounds are not increasing is malformed: dropped, not stored with non-monotonic buckets.
        Assert.Empty(await prometheus.QueryAsync($"latency_milliseconds_bucket{{{job}}}"));
        Assert.Equal(1, outcome.RejectedItems);
    }

    [Fact]
    public async Task SDK_metrics_land_in_Prometheus_with_their_names_labels_values_and_target_info()
    {
        string service = "checkout" + Guid.NewGuid().ToString("N")[..8];
        var request = await CaptureSdkMetricsAsync(service, MetricReaderTemporalityPreference.Cumulative, (counter, histogram) =>
        {
            counter.Add(5, new KeyValuePair<string, object?>("route", "/buy"));
            counter.Add(2, new KeyValuePair<string, object?>("route", "/buy"));
            histogram.Record(3);
            histogram.Record(30);
            histogram.Record(300);
        });

        var exporter = new PrometheusRemoteWriteExporter(TestEgress.LoopbackServices);
        var outcome = await exporter.ExportAsync(TestMetrics.Export(request, prometheus.WriteUri));
        Assert.True(outcome.Status == ExportStatus.Success && outcome.RejectedItems == 0, $"{outcome}\n{prometheus.Log}");

        string job = $"shop/{service}";
        var orders = Assert.Single(await prometheus.QueryAsync($"shop_orders_total{{job=\"{job}\"}}"));
        Assert.Equal(7, orders.Value);
        Assert.Equal("i-1", orders.Labels["instance"]);
        Assert.Equal("/buy", orders.Labels["route"]);
        Assert.Equal("e2e-shop", orders.Labels["otel_scope_name"]);

        var buckets = (await prometheus.QueryAsync($"shop_latency_milliseconds_bucket{{job=\"{job}\"}}")).ToDictionary(r => r.Labels["le"], r => r.Value);
        Assert.Equal(1, buckets["5"]);
        Assert.Equal(2, buckets["50"]);
        Assert.Equal(3, buckets["500"]);
        Assert.Equal(3, buckets["+Inf"]);
        Assert.Equal(333, Assert.Single(await prometheus.QueryAsync($"shop_latency_milliseconds_sum{{job=\"{job}\"}}")).Value);
        Assert.Equal(3, Assert.Single(await prometheus.QueryAsync($"shop_latency_milliseconds_count{{job=\"{job}\"}}")).Value);
        Assert.Equal(21.5, Assert.Single(await prometheus.QueryAsync($"shop_temperature_celsius{{job=\"{job}\"}}")).Value);

        var info = Assert.Single(await prometheus.QueryAsync($"target_info{{job=\"{job}\"}}"));
        Assert.Equal(1, info.Value);
        Assert.Equal("i-1", info.Labels["instance"]);
        Assert.Equal("test", info.Labels["deployment_environment"]);
        Assert.DoesNotContain("service_name", info.Labels.Keys);
    }

    [Fact]
    public async Task SDK_delta_metrics_reach_Prometheus_as_cumulative_series()
    {
        string service = "delta" + Guid.NewGuid().ToString("N")[..8];
        var exporter = new PrometheusRemoteWriteExporter(TestEgress.LoopbackServices);
        var requests = await CaptureSdkMetricsAsync(service, MetricReaderTemporalityPreference.Delta, 2, (round, counter, histogram) =>
        {
            counter.Add(round == 0 ? 5 : 3);
            histogram.Record(round == 0 ? 3 : 30);
        });
        foreach (var request in requests)
        {
            Assert.Equal(AggregationTemporality.Delta, request.ResourceMetrics[0].ScopeMetrics[0].Metrics.First(m => m.Name == "shop.orders").Sum.AggregationTemporality);
            var outcome = await exporter.ExportAsync(TestMetrics.Export(request, prometheus.WriteUri));
            Assert.True(outcome.Status == ExportStatus.Success, $"{outcome}\n{prometheus.Log}");
            await Task.Delay(5); // distinct millisecond timestamps
        }

        string job = $"shop/{service}";
        Assert.Equal(8, Assert.Single(await prometheus.QueryAsync($"shop_orders_total{{job=\"{job}\"}}")).Value);
        Assert.Equal(2, Assert.Single(await prometheus.QueryAsync($"shop_latency_milliseconds_count{{job=\"{job}\"}}")).Value);
        Assert.Equal(33, Assert.Single(await prometheus.QueryAsync($"shop_latency_milliseconds_sum{{job=\"{job}\"}}")).Value);
    }

    [Fact]
    public async Task Samples_Prometheus_refuses_as_out_of_order_are_dropped_and_the_rest_lands()
    {
        string service = "ooo" + Guid.NewGuid().ToString("N")[..8];
        ulong now = TestMetrics.NowNs();
        var newer = TestMetrics.Request(service, TestMetrics.Gauge("ooo.value", "", 2, now));
        Assert.Equal(ExportStatus.Success, (await new PrometheusRemoteWriteExporter(TestEgress.LoopbackServices).ExportAsync(TestMetrics.Export(newer, prometheus.WriteUri))).Status);

        // A fresh exporter (no state: another node, or after a restart) sends an older sample of
        // the same series beside a new series: Prometheus refuses the request, the exporter finds the
        // refused series, drops it and gets the other one in.
        var older = TestMetrics.Request(service,
            TestMetrics.Gauge("ooo.value", "", 1, now - 60_000_000_000),
            TestMetrics.Gauge("ooo.other", "", 5, now));
        var outcome = await new PrometheusRemoteWriteExporter(TestEgress.LoopbackServices).ExportAsync(TestMetrics.Export(older, prometheus.WriteUri));
        Assert.Equal(ExportStatus.Success, outcome.Status);
        Assert.Equal(1, outcome.RejectedItems);

        string job = $"shop/{service}";
        Assert.Equal(2, Assert.Single(await prometheus.QueryAsync($"ooo_value{{job=\"{job}\"}}")).Value);
        Assert.Equal(5, Assert.Single(await prometheus.QueryAsync($"ooo_other{{job=\"{job}\"}}")).Value);

        // The same exporter replaying its own batch filters it before sending.
        var exporter = new PrometheusRemoteWriteExporter(TestEgress.LoopbackServices);
        var again = TestMetrics.Request(service, TestMetrics.Gauge("ooo.third", "", 9, now));
        Assert.Equal(0, (await exporter.ExportAsync(TestMetrics.Export(again, prometheus.WriteUri))).RejectedItems);
        Assert.Equal(1, (await exporter.ExportAsync(TestMetrics.Export(again, prometheus.WriteUri))).RejectedItems);
    }

    [Fact]
    public async Task Exponential_histograms_land_as_native_histograms_when_asked()
    {
        string service = "native" + Guid.NewGuid().ToString("N")[..8];
        var request = TestMetrics.Request(service, TestMetrics.Exponential("payload.size", "By", TestMetrics.NowNs(), scale: 3, zeroCount: 1, offset: 5, [1, 0, 2]));
        var exporter = new PrometheusRemoteWriteExporter(TestEgress.LoopbackServices, options: new PrometheusRemoteWriteOptions { NativeHistograms = true });
        var outcome = await exporter.ExportAsync(TestMetrics.Export(request, prometheus.WriteUri));
        Assert.True(outcome.Status == ExportStatus.Success, $"{outcome}\n{prometheus.Log}");
        string job = $"shop/{service}";
        Assert.Equal(4, Assert.Single(await prometheus.QueryAsync($"histogram_count(payload_size_bytes{{job=\"{job}\"}})")).Value);
        Assert.Equal(10, Assert.Single(await prometheus.QueryAsync($"histogram_sum(payload_size_bytes{{job=\"{job}\"}})")).Value);
    }

    private static async Task<ExportMetricsServiceRequest> CaptureSdkMetricsAsync(string service, MetricReaderTemporalityPreference temporality, Action<Counter<long>, Histogram<double>> record) =>
        (await CaptureSdkMetricsAsync(service, temporality, 1, (_, c, h) => record(c, h)))[0];

    /// <summary>
    /// Runs the OpenTelemetry .NET SDK's own OTLP/HTTP exporter against a loopback receiver and
    /// returns the export requests it sent, one per round (a counter, a histogram in ms and an
    /// observable gauge in Cel).
    /// </summary>
    private static async Task<List<ExportMetricsServiceRequest>> CaptureSdkMetricsAsync(string service, MetricReaderTemporalityPreference temporality, int rounds, Action<int, Counter<long>, Histogram<double>> record)
    {
        await using var receiver = await CapturingHttpReceiver.StartAsync();
        receiver.Answer = _ => (200, "", null);
        using var meter = new Meter("e2e-shop", "1.0");
        var counter = meter.CreateCounter<long>("shop.orders", "{order}");
        var histogram = meter.CreateHistogram<double>("shop.latency", "ms");
        meter.CreateObservableGauge("shop.temperature", () => 21.5, "Cel");
        using var provider = Sdk.CreateMeterProviderBuilder()
            .AddMeter(meter.Name)
            .SetResourceBuilder(ResourceBuilder.CreateEmpty()
                .AddService(service, serviceNamespace: "shop", serviceInstanceId: "i-1", autoGenerateServiceInstanceId: false)
                .AddAttributes([new("deployment.environment", "test")]))
            .AddOtlpExporter((o, reader) =>
            {
                o.Protocol = OtlpExportProtocol.HttpProtobuf;
                o.Endpoint = new Uri(receiver.Uri, "/v1/metrics");
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = 600_000;
                reader.TemporalityPreference = temporality;
            })
            .Build();
        var requests = new List<ExportMetricsServiceRequest>();
        for (int round = 0; round < rounds; round++)
        {
            record(round, counter, histogram);
            Assert.True(provider.ForceFlush(15_000), "ForceFlush timed out");
            var body = Assert.Single(receiver.Requests.Where(r => r.Path == "/v1/metrics").Skip(round));
            requests.Add(ExportMetricsServiceRequest.Parser.ParseFrom(body.Body));
            await Task.Delay(10);
        }

        return requests;
    }
}
