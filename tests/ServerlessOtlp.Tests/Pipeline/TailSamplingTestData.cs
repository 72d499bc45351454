using System.Buffers.Binary;
using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Resource.V1;
using OpenTelemetry.Proto.Trace.V1;
using ServerlessOtlp.Export;
using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Pipeline.Sampling;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Tests.Pipeline;

/// <summary>Spans, traces and a tail-sampling tenant for tests; trace ids choose their randomness (low 56 bits).</summary>
internal static class TailSamplingTestData
{
    public const string Tenant = "acme";

    /// <summary>Randomness above every threshold below 100 %: kept by any probabilistic policy.</summary>
    public const ulong HighR = ConsistentProbability.MaxAdjustedCount - 1;

    /// <summary>A 16-byte trace id whose randomness is <paramref name="randomness"/>, distinct per <paramref name="n"/>.</summary>
    public static byte[] TraceId(int n, ulong randomness)
    {
        var id = new byte[16];
        BinaryPrimitives.WriteInt64BigEndian(id, n + 1);
        BinaryPrimitives.WriteUInt64BigEndian(id.AsSpan(8), randomness & (ConsistentProbability.MaxAdjustedCount - 1));
        return id;
    }

    public static Span Span(byte[] traceId, string name, ulong startMs = 0, ulong endMs = 1, Status.Types.StatusCode status = Status.Types.StatusCode.Unset, string traceState = "", params KeyValue[] attributes)
    {
        var span = new Span
        {
            TraceId = ByteString.CopyFrom(traceId),
            SpanId = ByteString.CopyFrom(Guid.NewGuid().ToByteArray()[..8]),
            Name = name,
            StartTimeUnixNano = 1_700_000_000_000_000_000UL + (startMs * 1_000_000),
            EndTimeUnixNano = 1_700_000_000_000_000_000UL + (endMs * 1_000_000),
            TraceState = traceState,
            Status = new Status { Code = status },
        };
        span.Attributes.AddRange(attributes);
        return span;
    }

    public static KeyValue Str(string key, string value) => new() { Key = key, Value = new AnyValue { StringValue = value } };

    public static KeyValue Int(string key, long value) => new() { Key = key, Value = new AnyValue { IntValue = value } };

    public static ExportTraceServiceRequest Request(params Span[] spans)
    {
        var scope = new ScopeSpans { Scope = new InstrumentationScope { Name = "test" } };
        scope.Spans.AddRange(spans);
        var resource = new ResourceSpans { Resource = new Resource { Attributes = { Str("service.name", "svc") } } };
        resource.ScopeSpans.Add(scope);
        return new ExportTraceServiceRequest { ResourceSpans = { resource } };
    }

    public static List<BufferedSpan> Buffered(params Span[] spans)
    {
        var request = Request(spans);
        var rs = request.ResourceSpans[0];
        return rs.ScopeSpans[0].Spans.Select(s => new BufferedSpan(rs, rs.ScopeSpans[0], s)).ToList();
    }

    public static TailPolicy Policy(TailPolicyType type, Func<TailPolicy, TailPolicy>? configure = null)
    {
        var policy = new TailPolicy { Name = type.ToString(), Type = type };
        return configure == null ? policy : configure(policy);
    }

    public static TailSamplingConfig Tail(params TailPolicy[] policies) => new() { Policies = policies };

    public static IEnumerable<Span> Spans(ExportTraceServiceRequest request) =>
        request.ResourceSpans.SelectMany(r => r.ScopeSpans).SelectMany(s => s.Spans);
}

/// <summary>Keeps what was exported (decoded) and answers as told.</summary>
internal sealed class CapturingExporter(string kind = FileDestination.KindName) : IDestinationExporter
{
    private readonly List<IMessage> _requests = [];

    public string Kind { get; } = kind;

    public Func<ExportRequest, ExportOutcome> Answer { get; set; } = _ => ExportOutcome.Ok;

    public IReadOnlyList<IMessage> Requests
    {
        get
        {
            lock (_requests)
            {
                return _requests.ToList();
            }
        }
    }

    public List<Span> Spans => Requests.OfType<ExportTraceServiceRequest>().SelectMany(TailSamplingTestData.Spans).ToList();

    public List<string> SpanNames => Spans.Select(s => s.Name).ToList();

    public Task<ExportOutcome> ExportAsync(ExportRequest request, CancellationToken cancellationToken = default)
    {
        var outcome = Answer(request);
        if (outcome.Status == ExportStatus.Success)
        {
            lock (_requests)
            {
                _requests.Add(request.Message.Descriptor.Parser.ParseFrom(request.Message.ToByteArray()));
            }
        }

        return Task.FromResult(outcome);
    }
}

internal sealed class CountingDeadLetterStore : DeadLetterStore
{
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public override Task<string> WriteAsync(string? tenant, string? destination, Signal? signal, int partition, long position, string reason, ReadOnlyMemory<byte> body, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _count);
        return Task.FromResult("x");
    }
}

/// <summary>A tenant pipeline with tail sampling and one capturing destination, driven by hand (no drain).</summary>
internal sealed class TailHarness
{
    public TailHarness(TailSamplingConfig tail, TraceSamplingConfig? head = null, DeferralLimits? limits = null, Signal[]? signals = null)
    {
        Tenants = new InMemoryTenantDirectory(new TenantFile
        {
            Tenants =
            [
                new TenantConfig
                {
                    Id = TailSamplingTestData.Tenant,
                    Sampling = new SamplingConfig { Traces = head, Tail = tail },
                    Destinations = [new DestinationConfig { Name = "out", Kind = FileDestination.KindName, Signals = signals ?? [Signal.Traces], Settings = new FileSettings { Path = "unused" } }],
                },
            ],
        });
        Processor = new TenantEventProcessor(Tenants, [Exporter], DeadLetters);
        Deferral.Reset(0, limits ?? new DeferralLimits(1, 100_000, 1000));
    }

    public static DateTimeOffset T0 { get; } = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    public InMemoryTenantDirectory Tenants { get; }

    public CapturingExporter Exporter { get; } = new();

    public CountingDeadLetterStore DeadLetters { get; } = new();

    public TenantEventProcessor Processor { get; }

    /// <summary>The processor's deferring stage, as the drain holds it.</summary>
    public IEventDeferral Deferral => Processor.Hooks.Deferral!;

    public Task<EventFate> ReceiveAsync(long position, double receivedAtSeconds, IMessage request, Signal signal = Signal.Traces) =>
        Processor.ProcessAsync(0, new ReadEvent(
            new LogPosition(position),
            new LogPosition(position + 1),
            new EventProperties(TailSamplingTestData.Tenant, signal, BodyCodec.Protobuf, 1, T0.AddSeconds(receivedAtSeconds), "gw"),
            request.ToByteArray()));

    public Task<FlushOutcome> FlushAsync(double nowSeconds, bool endOfLog) => Deferral.FlushDueAsync(0, T0.AddSeconds(nowSeconds), endOfLog);
}
