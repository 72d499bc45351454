using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Trace.V1;
using ServerlessOtlp.Export;
using ServerlessOtlp.Export.Files;
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
                    Destinations = [new DestinationConfig { Name = "files", Kind = FileDestination.KindName, Signals = [Signal.Traces], Settings = new FileSettings { Path = dir } }],
                },
            ],
        });
        var deadLetters = new NoDeadLetters();
        var processor = new TenantEventProcessor(tenants, [new FileExporter(ServerlessOtlp.Tests.Export.TestEgress.Local.Files)], deadLetters);
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

public class TransformInDrainTests
{
    private sealed class CountingDeadLetters : DeadLetterStore
    {
        public readonly List<string> Reasons = [];

        public override Task<string> WriteAsync(string? tenant, string? destination, Signal? signal, int partition, long position, string reason, ReadOnlyMemory<byte> body, CancellationToken cancellationToken = default)
        {
            Reasons.Add(reason);
            return Task.FromResult("x");
        }
    }

    [Fact]
    public async Task Transforms_filters_and_when_routing_apply_in_the_drain()
    {
        string prod = Path.Combine(Path.GetTempPath(), "prod-" + Guid.NewGuid().ToString("N"));
        string rest = Path.Combine(Path.GetTempPath(), "rest-" + Guid.NewGuid().ToString("N"));
        var tenants = new InMemoryTenantDirectory(new TenantFile
        {
            Tenants =
            [
                new TenantConfig
                {
                    Id = "acme",
                    Transforms = new OttlStatements { Traces = ["set(span.attributes[\"env\"], \"prod\") where resource.attributes[\"service.name\"] == \"svc-0\""] },
                    Filters = new OttlStatements { Traces = ["span.name == \"GET /api/1\""] },
                    Destinations =
                    [
                        new DestinationConfig { Name = "prod", Kind = FileDestination.KindName, Signals = [Signal.Traces], Settings = new FileSettings { Path = prod }, When = "resource.attributes[\"service.name\"] == \"svc-0\"" },
                        new DestinationConfig { Name = "rest", Kind = FileDestination.KindName, Signals = [Signal.Traces], Settings = new FileSettings { Path = rest }, When = "resource.attributes[\"service.name\"] != \"svc-0\"" },
                    ],
                },
            ],
        });
        var deadLetters = new CountingDeadLetters();
        var processor = new TenantEventProcessor(tenants, [new FileExporter(ServerlessOtlp.Tests.Export.TestEgress.Local.Files)], deadLetters);
        var request = OtlpTestData.Traces(9, resources: 2, scopes: 1, spans: 300, invalidShare: 0);
        var props = new EventProperties("acme", Signal.Traces, BodyCodec.Protobuf, 0, DateTimeOffset.UtcNow, "gw");

        Assert.Equal(EventFate.Delivered, await processor.ProcessAsync(0, new ReadEvent(new LogPosition(0), new LogPosition(1), props, request.ToByteArray())));
        Assert.Empty(deadLetters.Reasons);

        static List<OpenTelemetry.Proto.Trace.V1.ResourceSpans> Read(string dir) =>
            File.ReadAllLines(Path.Combine(dir, "traces.jsonl")).SelectMany(l => OtlpJson.Parse<ExportTraceServiceRequest>(System.Text.Encoding.UTF8.GetBytes(l)).ResourceSpans).ToList();
        var prodSpans = Read(prod);
        var restSpans = Read(rest);
        Assert.All(prodSpans, r => Assert.Equal("svc-0", r.Resource.Attributes.First(a => a.Key == "service.name").Value.StringValue));
        Assert.All(restSpans, r => Assert.Equal("svc-1", r.Resource.Attributes.First(a => a.Key == "service.name").Value.StringValue));
        var allProd = prodSpans.SelectMany(r => r.ScopeSpans).SelectMany(s => s.Spans).ToList();
        Assert.NotEmpty(allProd);
        Assert.All(allProd, s => Assert.Contains(s.Attributes, a => a.Key == "env" && a.Value.StringValue == "prod"));
        Assert.DoesNotContain(restSpans.SelectMany(r => r.ScopeSpans).SelectMany(s => s.Spans), s => s.Attributes.Any(a => a.Key == "env"));
        Assert.DoesNotContain(prodSpans.Concat(restSpans).SelectMany(r => r.ScopeSpans).SelectMany(s => s.Spans), s => s.Name == "GET /api/1");
        int expected = request.ResourceSpans.SelectMany(r => r.ScopeSpans).SelectMany(s => s.Spans).Count(s => s.Name != "GET /api/1");
        Assert.Equal(expected, allProd.Count + restSpans.SelectMany(r => r.ScopeSpans).Sum(s => s.Spans.Count));
        Directory.Delete(prod, true);
        Directory.Delete(rest, true);
    }
}
