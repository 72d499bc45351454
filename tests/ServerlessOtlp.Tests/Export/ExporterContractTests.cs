using System.Text;
using Azure.Storage.Blobs;
using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Logs.V1;
using OpenTelemetry.Proto.Metrics.V1;
using OpenTelemetry.Proto.Resource.V1;
using OpenTelemetry.Proto.Trace.V1;
using ServerlessOtlp.Export;
using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Export.Loki;
using ServerlessOtlp.Export.Loki.Logproto;
using ServerlessOtlp.Export.Otlp;
using ServerlessOtlp.Export.PrometheusRemoteWrite;
using ServerlessOtlp.Export.PrometheusRemoteWrite.Prompb;
using ServerlessOtlp.Otlp.Json;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Infrastructure;
using Snappier;
using Xunit.Abstractions;

namespace ServerlessOtlp.Tests.Export;

/// <summary>
/// The exporter contract (after the Collector's <c>exportertest.CheckConsumeContract</c>), for every
/// registered destination kind: N requests through the real <see cref="TenantEventProcessor"/>
/// (resilience pipeline, retry store and dead-letter store on Azurite) to a backend of the kind's
/// protocol that succeeds, fails transiently or permanently at random, or is slow; then the retry store
/// is drained with the backend healthy. Every item carries an id: sent − permanently rejected ==
/// received, dead-lettered == permanently rejected, nothing invented.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class ExporterContractTests(AzuriteFixture azurite, ITestOutputHelper output)
{
    private const int Requests = 40;
    private const int SpansPerRequest = 5;

    public static TheoryData<string, ReceiverMode> Cases()
    {
        var data = new TheoryData<string, ReceiverMode>();
        foreach (var exporter in new[] { "otlp", "otlp-gzip", "otlphttp-protobuf", "otlphttp-json", "otlphttp-json-gzip" })
        {
            foreach (var mode in Enum.GetValues<ReceiverMode>())
            {
                data.Add(exporter, mode);
            }
        }

        return data;
    }

    /// <summary>The other kinds, each against a backend of its own protocol; a file cannot be made to fail by a backend.</summary>
    public static TheoryData<string, ReceiverMode> OtherKindCases()
    {
        var data = new TheoryData<string, ReceiverMode>();
        foreach (var kind in new[] { LokiDestination.KindName, RemoteWriteDestination.KindName })
        {
            foreach (var mode in Enum.GetValues<ReceiverMode>())
            {
                data.Add(kind, mode);
            }
        }

        data.Add(FileDestination.KindName, ReceiverMode.AlwaysSucceed);
        return data;
    }

    [Fact]
    public void Every_registered_destination_kind_has_a_contract_case()
    {
        var covered = new HashSet<string>(StringComparer.Ordinal) { OtlpDestination.KindName, OtlpHttpDestination.KindName };
        covered.UnionWith(OtherKindCases().Select(row => (string)row[0]));
        Assert.Equal(DestinationKinds.Names.Order(StringComparer.Ordinal), covered.Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Every_item_is_received_or_dead_lettered_exactly_as_the_backend_decided(string exporter, ReceiverMode mode)
    {
        await using var receiver = await OtlpTestReceiver.StartAsync(seed: HashCode.Combine(exporter, mode) & 0x7fffffff);
        await RunAsync(exporter, mode, Destination(exporter, receiver), Signal.Traces, TracesRequest,
            body => OtlpTestReceiver.Ids(ExportTraceServiceRequest.Parser.ParseFrom(body)),
            new Backend(m => receiver.Mode = m, () => receiver.Received, () => receiver.PermanentlyRejected.Keys, () => receiver.Requests));
    }

    [Theory]
    [MemberData(nameof(OtherKindCases))]
    public async Task Every_item_reaches_Loki_remote_write_or_a_file_or_is_dead_lettered_as_decided(string kind, ReceiverMode mode)
    {
        int seed = HashCode.Combine(kind, mode) & 0x7fffffff;
        switch (kind)
        {
            case LokiDestination.KindName:
                {
                    await using var loki = await ContractHttpReceiver.StartAsync(LokiIds, seed);
                    var destination = new DestinationConfig { Name = "loki", Kind = kind, Signals = [Signal.Logs], Endpoint = new Uri(loki.Uri, "/loki/api/v1/push").ToString() };
                    await RunAsync(kind, mode, destination, Signal.Logs, TestLogs,
                        body => LogIds(ExportLogsServiceRequest.Parser.ParseFrom(body)), Backend.Of(loki));
                    break;
                }

            case RemoteWriteDestination.KindName:
                {
                    await using var prometheus = await ContractHttpReceiver.StartAsync(RemoteWriteIds, seed);
                    var destination = new DestinationConfig { Name = "prom", Kind = kind, Signals = [Signal.Metrics], Endpoint = new Uri(prometheus.Uri, "/api/v1/write").ToString() };
                    await RunAsync(kind, mode, destination, Signal.Metrics, TestMetricsRequest,
                        body => MetricIds(ExportMetricsServiceRequest.Parser.ParseFrom(body)), Backend.Of(prometheus));
                    break;
                }

            case FileDestination.KindName:
                {
                    string dir = Directory.CreateTempSubdirectory("contract-file-").FullName;
                    try
                    {
                        var destination = new DestinationConfig { Name = "files", Kind = kind, Signals = [Signal.Traces], Settings = new FileSettings { Path = dir } };
                        var file = Path.Combine(dir, "traces.jsonl");
                        Dictionary<string, int> Written() => (File.Exists(file) ? File.ReadAllLines(file) : [])
                            .SelectMany(line => OtlpTestReceiver.Ids(OtlpJson.Parse<ExportTraceServiceRequest>(Encoding.UTF8.GetBytes(line))))
                            .GroupBy(id => id).ToDictionary(g => g.Key, g => g.Count());
                        await RunAsync(kind, mode, destination, Signal.Traces, TracesRequest,
                            body => OtlpTestReceiver.Ids(ExportTraceServiceRequest.Parser.ParseFrom(body)),
                            new Backend(_ => { }, Written, () => [], () => File.Exists(file) ? File.ReadAllLines(file).Length : 0));
                    }
                    finally
                    {
                        Directory.Delete(dir, recursive: true);
                    }

                    break;
                }

            default:
                throw new ArgumentOutOfRangeException(nameof(kind));
        }
    }

    /// <summary>How the test drives and reads a backend: its mode, what it took (id → times), what it refused for good.</summary>
    private sealed record Backend(Action<ReceiverMode> SetMode, Func<IReadOnlyDictionary<string, int>> Received, Func<IEnumerable<string>> Rejected, Func<int> Requests)
    {
        public static Backend Of(ContractHttpReceiver receiver) =>
            new(m => receiver.Mode = m, () => receiver.Received, () => receiver.PermanentlyRejected.Keys, () => receiver.Requests);
    }

    /// <summary>
    /// N requests through the real processor (resilience pipeline, retry store, dead letters on Azurite)
    /// while the backend behaves as <paramref name="mode"/>; then the backend recovers and the retry store
    /// drains. Sent − refused for good == received; dead-lettered == refused for good; nothing invented.
    /// </summary>
    private async Task RunAsync(string name, ReceiverMode mode, DestinationConfig destination, Signal signal,
        Func<int, (IMessage Request, List<string> Ids)> request, Func<byte[], IEnumerable<string>> deadLetterIds, Backend backend)
    {
        backend.SetMode(mode);
        var tenant = new TenantConfig { Id = "contract", Destinations = [destination] };
        var tenants = new InMemoryTenantDirectory(new TenantFile { Tenants = [tenant] });
        var blobs = new BlobServiceClient(azurite.ConnectionString);
        string suffix = Guid.NewGuid().ToString("N")[..12];
        var deadLetters = new DeadLetterStore(blobs.GetBlobContainerClient("dl-" + suffix));
        var retryStore = new RetryStore(blobs.GetBlobContainerClient("retry-" + suffix));
        await deadLetters.EnsureCreatedAsync();
        await retryStore.EnsureCreatedAsync();
        // A backend whose every answer is final (accept, or refuse for good) must never be timed out by a
        // busy machine: a refusal arriving after the budget would park the request and deliver it later,
        // so it would be both refused and received. Its budget is the largest allowed; the transient and
        // slow modes keep short ones, where a timeout is what they test.
        bool healthy = mode is ReceiverMode.AlwaysSucceed or ReceiverMode.RandomPermanent;
        var resilience = new ExportResilienceOptions
        {
            AttemptTimeout = healthy ? ExportResilienceOptions.MaxInlineBudget : TimeSpan.FromMilliseconds(mode == ReceiverMode.Slow ? 100 : 2000),
            InitialInterval = TimeSpan.FromMilliseconds(5),
            MaxInterval = TimeSpan.FromMilliseconds(40),
            InlineBudget = healthy ? ExportResilienceOptions.MaxInlineBudget : TimeSpan.FromMilliseconds(300),
            BreakerBreakDuration = TimeSpan.FromMilliseconds(500),
        };
        var exporters = new ResilientExporter(ProcessingServices.DefaultExporters(TestEgress.Local), resilience);
        var processor = new TenantEventProcessor(tenants, exporters, deadLetters, retryStore);

        var sent = new HashSet<string>();
        for (int i = 0; i < Requests; i++)
        {
            var (message, ids) = request(i);
            sent.UnionWith(ids);
            var props = new EventProperties(tenant.Id, signal, BodyCodec.Protobuf, ids.Count, DateTimeOffset.UtcNow, "contract-test");
            var fate = await processor.ProcessAsync(0, new ReadEvent(new LogPosition(i), new LogPosition(i + 1), props, message.ToByteArray()));
            Assert.NotEqual(EventFate.RetryLater, fate); // the partition always moves on
        }

        // The backend recovers; the retry store drains to empty.
        backend.SetMode(ReceiverMode.AlwaysSucceed);
        int parkedAtEnd = (await retryStore.ListAsync()).Count;
        var drainer = new RetryStoreDrainer(retryStore, exporters, tenants, deadLetters);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await retryStore.ListAsync()).Count > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the retry store did not drain");
            await drainer.DrainOnceAsync();
            await Task.Delay(50);
        }

        var deadLettered = new HashSet<string>();
        foreach (var letter in await deadLetters.ListAsync())
        {
            var found = await deadLetters.GetAsync(letter.Id);
            deadLettered.UnionWith(deadLetterIds(found!.Value.Body.ToArray()));
        }

        var taken = backend.Received();
        var received = taken.Keys.ToHashSet();
        var rejected = backend.Rejected().ToHashSet();
        var duplicates = taken.Where(p => p.Value > 1).Sum(p => p.Value - 1);
        output.WriteLine($"{name}/{mode}: sent {sent.Count}, received {received.Count} ({duplicates} duplicates), permanently rejected {rejected.Count}, dead-lettered {deadLettered.Count}, parked {processor.ParkedTotal} (left after the run: {parkedAtEnd}), backend requests {backend.Requests()}");

        Assert.Subset(sent, received);         // nothing invented
        Assert.Equal(sent.Except(rejected).Order(), received.Order());
        Assert.Equal(rejected.Order(), deadLettered.Order());
        Assert.Empty(received.Intersect(rejected));
        switch (mode)
        {
            case ReceiverMode.AlwaysSucceed:
                Assert.Equal(0, duplicates);
                Assert.Equal(0, processor.ParkedTotal);
                Assert.Empty(rejected);
                break;
            case ReceiverMode.RandomPermanent:
                Assert.NotEmpty(rejected);
                break;
        }
    }

    private static IReadOnlyList<string> LokiIds(byte[] body) =>
        [.. PushRequest.Parser.ParseFrom(Snappy.DecompressToArray(body)).Streams.SelectMany(s => s.Entries).Select(e => e.Line)];

    private static IReadOnlyList<string> RemoteWriteIds(byte[] body) =>
        [.. WriteRequest.Parser.ParseFrom(Snappy.DecompressToArray(body)).Timeseries.SelectMany(t => t.Labels).Where(l => l.Name == "test_id").Select(l => l.Value)];

    private static IEnumerable<string> LogIds(ExportLogsServiceRequest request) =>
        request.ResourceLogs.SelectMany(r => r.ScopeLogs).SelectMany(s => s.LogRecords).Select(l => l.Body.StringValue);

    private static IEnumerable<string> MetricIds(ExportMetricsServiceRequest request) =>
        from rm in request.ResourceMetrics
        from sm in rm.ScopeMetrics
        from metric in sm.Metrics
        from point in metric.Gauge.DataPoints
        from attribute in point.Attributes
        where attribute.Key == OtlpTestReceiver.IdAttribute
        select attribute.Value.StringValue;

    /// <summary>A log per id, its body the id (Loki's line).</summary>
    private static (IMessage Request, List<string> Ids) TestLogs(int index)
    {
        var ids = Enumerable.Range(0, SpansPerRequest).Select(s => $"r{index}-l{s}").ToList();
        var scope = new ScopeLogs { Scope = new InstrumentationScope { Name = "contract" } };
        ulong now = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000;
        scope.LogRecords.AddRange(ids.Select((id, n) => new LogRecord { TimeUnixNano = now + (ulong)n, Body = new AnyValue { StringValue = id } }));
        var request = new ExportLogsServiceRequest { ResourceLogs = { new ResourceLogs { Resource = ContractResource(), ScopeLogs = { scope } } } };
        return (request, ids);
    }

    /// <summary>A gauge point per id, the id a point attribute (a series of its own: the label <c>test_id</c>).</summary>
    private static (IMessage Request, List<string> Ids) TestMetricsRequest(int index)
    {
        var ids = Enumerable.Range(0, SpansPerRequest).Select(s => $"r{index}-m{s}").ToList();
        ulong now = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000;
        var gauge = new Gauge();
        gauge.DataPoints.AddRange(ids.Select(id => new NumberDataPoint
        {
            TimeUnixNano = now,
            AsDouble = 1,
            Attributes = { new KeyValue { Key = OtlpTestReceiver.IdAttribute, Value = new AnyValue { StringValue = id } } },
        }));
        var request = new ExportMetricsServiceRequest
        {
            ResourceMetrics = { new ResourceMetrics { Resource = ContractResource(), ScopeMetrics = { new ScopeMetrics { Metrics = { new Metric { Name = "contract_gauge", Gauge = gauge } } } } } },
        };
        return (request, ids);
    }

    private static (IMessage Request, List<string> Ids) TracesRequest(int index)
    {
        var (request, ids) = TestRequest(index);
        return (request, ids);
    }

    private static Resource ContractResource() => new() { Attributes = { new KeyValue { Key = "service.name", Value = new AnyValue { StringValue = "contract" } } } };

    private static DestinationConfig Destination(string exporter, OtlpTestReceiver receiver) => exporter switch
    {
        "otlp" => new DestinationConfig { Name = "grpc", Kind = OtlpDestination.KindName, Signals = [Signal.Traces], Endpoint = receiver.GrpcUri.ToString(), Headers = new Dictionary<string, string> { ["X-Scope-OrgID"] = "contract" } },
        "otlp-gzip" => new DestinationConfig { Name = "grpc", Kind = OtlpDestination.KindName, Signals = [Signal.Traces], Endpoint = receiver.GrpcUri.ToString(), Compression = DestinationCompression.Gzip },
        "otlphttp-protobuf" => new DestinationConfig { Name = "http", Kind = OtlpHttpDestination.KindName, Signals = [Signal.Traces], Endpoint = receiver.HttpUri.ToString() },
        "otlphttp-json" => new DestinationConfig { Name = "http", Kind = OtlpHttpDestination.KindName, Signals = [Signal.Traces], Endpoint = receiver.HttpUri.ToString(), Settings = new OtlpHttpSettings { Encoding = DestinationEncoding.Json } },
        "otlphttp-json-gzip" => new DestinationConfig { Name = "http", Kind = OtlpHttpDestination.KindName, Signals = [Signal.Traces], Endpoint = receiver.HttpUri + "v1/traces", Settings = new OtlpHttpSettings { Encoding = DestinationEncoding.Json }, Compression = DestinationCompression.Gzip },
        _ => throw new ArgumentOutOfRangeException(nameof(exporter)),
    };

    internal static (ExportTraceServiceRequest Request, List<string> Ids) TestRequest(int index)
    {
        var ids = new List<string>();
        var scope = new ScopeSpans { Scope = new InstrumentationScope { Name = "contract" } };
        for (int s = 0; s < SpansPerRequest; s++)
        {
            string id = $"r{index}-s{s}";
            ids.Add(id);
            var traceId = new byte[16];
            BitConverter.TryWriteBytes(traceId, index + 1);
            var spanId = new byte[8];
            BitConverter.TryWriteBytes(spanId, (index * 100) + s + 1);
            scope.Spans.Add(new Span
            {
                TraceId = ByteString.CopyFrom(traceId),
                SpanId = ByteString.CopyFrom(spanId),
                Name = "op",
                Attributes = { new KeyValue { Key = OtlpTestReceiver.IdAttribute, Value = new AnyValue { StringValue = id } } },
            });
        }

        var request = new ExportTraceServiceRequest
        {
            ResourceSpans =
            {
                new ResourceSpans
                {
                    Resource = new Resource { Attributes = { new KeyValue { Key = "service.name", Value = new AnyValue { StringValue = "contract" } } } },
                    ScopeSpans = { scope },
                },
            },
        };
        return (request, ids);
    }
}
