using System.Globalization;
using Azure.Storage.Blobs;
using BenchmarkDotNet.Attributes;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
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

namespace ServerlessOtlp.Benchmarks.Export;

/// <summary>
/// A destination's <c>batch</c> (issue 17): 100,000 spans in 10,000 log events of 10 spans (what
/// the gateway appends at light load, one SDK request per event) through the real tenant pipeline
/// and <c>otlphttp</c> exporter (protobuf + gzip, egress policy, resilience pipeline) to a loopback
/// Kestrel sink that answers 200, flushed every 256 events as the drain does before a checkpoint.
/// Baseline: no <c>batch</c> (one request per event). The setup prints requests and bytes on the wire.
/// </summary>
[MemoryDiagnoser]
public class DestinationBatchingBenchmarks
{
    public const int Events = 10_000;
    public const int SpansPerEvent = 10;

    // DrainOptions.BatchMaxEvents: the drain checkpoints (and so flushes) after each read.
    private const int EventsPerRead = 256;

    private static readonly byte[] EmptyResponse = new ExportTraceServiceResponse().ToByteArray();

    private WebApplication _sink = null!;
    private TenantEventProcessor _processor = null!;
    private ReadEvent[] _events = [];
    private long _requests;
    private long _bytes;

    [Params("none", "maxItems 8192")]
    public string Batch { get; set; } = "none";

    [GlobalSetup]
    public void Setup()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _sink = builder.Build();
        _sink.MapPost("/v1/traces", async (HttpRequest request) =>
        {
            Interlocked.Increment(ref _requests);
            Interlocked.Add(ref _bytes, request.ContentLength ?? 0);
            await request.Body.CopyToAsync(Stream.Null);
            return Results.Bytes(EmptyResponse, "application/x-protobuf");
        });
        _sink.StartAsync().GetAwaiter().GetResult();

        var destination = new DestinationConfig
        {
            Name = "tempo",
            Kind = OtlpHttpDestination.KindName,
            Signals = [Signal.Traces],
            Endpoint = _sink.Urls.First(),
            Compression = DestinationCompression.Gzip,
            Batch = Batch == "none" ? null : new BatchConfig { MaxItems = 8192 },
        };
        var tenants = new InMemoryTenantDirectory(new TenantFile { Tenants = [new TenantConfig { Id = "acme", Destinations = [destination] }] });
        var exporters = new ResilientExporter(ProcessingServices.DefaultExporters(new ExportSettings().ForLocalDevelopment()));

        // Never written: every export succeeds.
        var deadLetters = new DeadLetterStore(new BlobContainerClient(new Uri("http://127.0.0.1:9/devstoreaccount1/unused")));
        _processor = new TenantEventProcessor(tenants, exporters, deadLetters, retryStore: null);
        _events = [.. Enumerable.Range(0, Events).Select(Event)];

        DrainAsync().GetAwaiter().GetResult();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"// batch {Batch}: {Interlocked.Read(ref _requests):N0} requests, {Interlocked.Read(ref _bytes):N0} bytes (gzip) per {Events * SpansPerEvent:N0} spans"));
    }

    [GlobalCleanup]
    public void Cleanup() => _sink.StopAsync().GetAwaiter().GetResult();

    /// <summary>The 100,000 spans, exported; returns the spans handed over.</summary>
    [Benchmark]
    public async Task<int> DrainAsync()
    {
        using var batches = _processor.BeginBuffering(0);
        for (int i = 0; i < _events.Length; i++)
        {
            if (await _processor.ProcessAsync(0, _events[i]) != EventFate.Delivered)
            {
                throw new InvalidOperationException("an export failed");
            }

            if (i % EventsPerRead == EventsPerRead - 1 && (await batches.FlushAsync(CancellationToken.None)).RetryFrom is not null)
            {
                throw new InvalidOperationException("a batch failed");
            }
        }

        if ((await batches.FlushAsync(CancellationToken.None)).RetryFrom is not null)
        {
            throw new InvalidOperationException("a batch failed");
        }

        return _events.Length * SpansPerEvent;
    }

    private static ReadEvent Event(int n)
    {
        var scope = new ScopeSpans { Scope = new InstrumentationScope { Name = "bench" } };
        for (int s = 0; s < SpansPerEvent; s++)
        {
            scope.Spans.Add(new Span
            {
                TraceId = ByteString.CopyFrom(Guid.NewGuid().ToByteArray()),
                SpanId = ByteString.CopyFrom(BitConverter.GetBytes(((long)n * SpansPerEvent) + s + 1)),
                Name = "GET /api/orders/{id}",
                Kind = Span.Types.SpanKind.Server,
                StartTimeUnixNano = 1_700_000_000_000_000_000UL + (ulong)n,
                EndTimeUnixNano = 1_700_000_000_002_000_000UL + (ulong)n,
                Attributes =
                {
                    new KeyValue { Key = "http.request.method", Value = new AnyValue { StringValue = "GET" } },
                    new KeyValue { Key = "http.response.status_code", Value = new AnyValue { IntValue = 200 } },
                },
            });
        }

        var request = new ExportTraceServiceRequest
        {
            ResourceSpans =
            {
                new ResourceSpans
                {
                    Resource = new Resource { Attributes = { new KeyValue { Key = "service.name", Value = new AnyValue { StringValue = "orders" } } } },
                    ScopeSpans = { scope },
                },
            },
        };
        var props = new EventProperties("acme", Signal.Traces, BodyCodec.Protobuf, SpansPerEvent, DateTimeOffset.UtcNow, "bench");
        return new ReadEvent(new LogPosition(n), new LogPosition(n + 1), props, request.ToByteArray());
    }
}
