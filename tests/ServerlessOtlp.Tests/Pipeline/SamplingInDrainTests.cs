using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Trace.V1;
using ServerlessOtlp.Export;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Json;
using ServerlessOtlp.Pipeline.Sampling;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Otlp;

namespace ServerlessOtlp.Tests.Pipeline;

public class SamplingInDrainTests
{
    private sealed class NoDeadLetters : DeadLetterStore
    {
        public int Count;

        public override Task<string> WriteAsync(string? tenant, string? destination, Signal? signal, int partition, long position, string reason, ReadOnlyMemory<byte> body, CancellationToken cancellationToken = default)
        {
            Count++;
            return Task.FromResult("x");
        }
    }

    [Fact]
    public async Task Tenant_sampling_keeps_exactly_the_consistent_set_and_marks_it()
    {
        string dir = Path.Combine(Path.GetTempPath(), "sampling-" + Guid.NewGuid().ToString("N"));
        var tenants = new InMemoryTenantDirectory(new TenantFile
        {
            Tenants =
            [
                new TenantConfig
                {
                    Id = "acme",
                    Sampling = new SamplingConfig { Traces = new TraceSamplingConfig { Mode = SamplingMode.Proportional, SamplingPercentage = 10 } },
                    Destinations = [new DestinationConfig { Name = "files", Kind = DestinationKind.File, Signals = [Signal.Traces], Path = dir }],
                },
            ],
        });
        var deadLetters = new NoDeadLetters();
        var processor = new TenantEventProcessor(tenants, [new FileExporter()], deadLetters);
        var request = OtlpTestData.Traces(5, resources: 2, scopes: 2, spans: 200, invalidShare: 0);
        var props = new EventProperties("acme", Signal.Traces, BodyCodec.Protobuf, 0, DateTimeOffset.UtcNow, "gw");
        var fate = await processor.ProcessAsync(0, new ReadEvent(new LogPosition(0), new LogPosition(1), props, request.ToByteArray()));

        Assert.Equal(EventFate.Delivered, fate);
        Assert.Equal(0, deadLetters.Count);
        ulong t = ConsistentProbability.ProbabilityToThreshold(0.1);
        var expected = request.ResourceSpans.SelectMany(r => r.ScopeSpans).SelectMany(s => s.Spans)
            .Where(s => ConsistentProbability.RandomnessFromTraceId(s.TraceId.Span) >= t).Select(s => s.SpanId.ToBase64()).ToHashSet();
        var line = Assert.Single(File.ReadAllLines(Path.Combine(dir, "traces.jsonl")));
        var written = OtlpJson.Parse<ExportTraceServiceRequest>(System.Text.Encoding.UTF8.GetBytes(line));
        var spans = written.ResourceSpans.SelectMany(r => r.ScopeSpans).SelectMany(s => s.Spans).ToList();
        Assert.Equal(expected, spans.Select(s => s.SpanId.ToBase64()).ToHashSet());
        Assert.All(spans, s => Assert.Equal("ot=th:e666", s.TraceState));
        Assert.Equal(request.ResourceSpans.Sum(r => r.ScopeSpans.Sum(s => s.Spans.Count)) - expected.Count, processor.SampledOutTotal);
        Directory.Delete(dir, true);
    }
}
