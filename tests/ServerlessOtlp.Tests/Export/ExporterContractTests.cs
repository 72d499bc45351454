using Azure.Storage.Blobs;
using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Resource.V1;
using OpenTelemetry.Proto.Trace.V1;
using ServerlessOtlp.Export;
using ServerlessOtlp.Export.Otlp;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ServerlessOtlp.Tests.Export;

/// <summary>
/// The exporter contract (after the Collector's <c>exportertest.CheckConsumeContract</c>): N requests
/// through the real <see cref="TenantEventProcessor"/> (resilience pipeline, retry store and dead-letter
/// store on Azurite) to a real OTLP backend that succeeds, fails transiently or permanently at random,
/// or is slow; then the retry store is drained with the backend healthy. Every span carries an id:
/// sent − permanently rejected == received, dead-lettered == permanently rejected, nothing invented.
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

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Every_item_is_received_or_dead_lettered_exactly_as_the_backend_decided(string exporter, ReceiverMode mode)
    {
        await using var receiver = await OtlpTestReceiver.StartAsync(seed: HashCode.Combine(exporter, mode) & 0x7fffffff);
        receiver.Mode = mode;
        var destination = Destination(exporter, receiver);
        var tenant = new TenantConfig { Id = "contract", Destinations = [destination] };
        var tenants = new InMemoryTenantDirectory(new TenantFile { Tenants = [tenant] });
        var blobs = new BlobServiceClient(azurite.ConnectionString);
        string suffix = Guid.NewGuid().ToString("N")[..12];
        var deadLetters = new DeadLetterStore(blobs.GetBlobContainerClient("dl-" + suffix));
        var retryStore = new RetryStore(blobs.GetBlobContainerClient("retry-" + suffix));
        await deadLetters.EnsureCreatedAsync();
        await retryStore.EnsureCreatedAsync();
        var resilience = new ExportResilienceOptions
        {
            AttemptTimeout = TimeSpan.FromMilliseconds(mode == ReceiverMode.Slow ? 100 : 2000),
            InitialInterval = TimeSpan.FromMilliseconds(5),
            MaxInterval = TimeSpan.FromMilliseconds(40),
            InlineBudget = TimeSpan.FromMilliseconds(300),
            BreakerBreakDuration = TimeSpan.FromMilliseconds(500),
        };
        var exporters = new ResilientExporter(ProcessingServices.DefaultExporters(TestEgress.Local), resilience);
        var processor = new TenantEventProcessor(tenants, exporters, deadLetters, retryStore);

        var sent = new HashSet<string>();
        for (int i = 0; i < Requests; i++)
        {
            var (request, ids) = TestRequest(i);
            sent.UnionWith(ids);
            var body = request.ToByteArray();
            var props = new EventProperties(tenant.Id, Signal.Traces, BodyCodec.Protobuf, ids.Count, DateTimeOffset.UtcNow, "contract-test");
            var fate = await processor.ProcessAsync(0, new ReadEvent(new LogPosition(i), new LogPosition(i + 1), props, body));
            Assert.NotEqual(EventFate.RetryLater, fate); // the partition always moves on
        }

        // The backend recovers; the retry store drains to empty.
        receiver.Mode = ReceiverMode.AlwaysSucceed;
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
            deadLettered.UnionWith(OtlpTestReceiver.Ids(ExportTraceServiceRequest.Parser.ParseFrom(found!.Value.Body.ToMemory().Span)));
        }

        var received = receiver.Received.Keys.ToHashSet();
        var rejected = receiver.PermanentlyRejected.Keys.ToHashSet();
        var duplicates = receiver.Received.Where(p => p.Value > 1).Sum(p => p.Value - 1);
        output.WriteLine($"{exporter}/{mode}: sent {sent.Count}, received {received.Count} ({duplicates} duplicates), permanently rejected {rejected.Count}, dead-lettered {deadLettered.Count}, parked {processor.ParkedTotal} (left after the run: {parkedAtEnd}), backend requests {receiver.Requests}");

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
