using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Resource.V1;
using OpenTelemetry.Proto.Trace.V1;
using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Json;
using ServerlessOtlp.Pipeline.Sampling;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Cli;
using ServerlessOtlp.Tests.Infrastructure;
using ServerlessOtlp.Tests.Reliability;
using Xunit.Abstractions;

namespace ServerlessOtlp.Tests.Pipeline;

/// <summary>
/// Hot reload in a running system (gateway and local runner in this process, tenants and log on
/// Azurite, production tenant cache TTL): a tenant's sampling and transforms are changed with
/// <see cref="TenantStore.ApplyAsync"/> while data flows, and data sent after one cache TTL is
/// processed by the new configuration — without restarting anything.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class HotReloadTests(AzuriteFixture azurite, ITestOutputHelper output)
{
    private const string VersionAttribute = "config.version";

    [Fact]
    public async Task A_changed_sampling_and_transform_apply_to_data_sent_one_cache_TTL_later()
    {
        string tenant = "reload-" + Guid.NewGuid().ToString("N")[..6];
        string key = CliTestData.NewKey();
        string dir = CliTestData.TempDir("hot-reload");
        var storage = azurite.IsolatedStorage();
        var store = new TenantStore(storage.Tables, storage.Names.Tenants, storage.Blobs.GetBlobContainerClient(storage.Names.TenantContainer));
        await store.EnsureCreatedAsync();
        await store.ApplyAsync(new TenantFile { Tenants = [Config(tenant, key, dir, version: 1, percentage: null)] });
        await storage.Blobs.GetBlobContainerClient(storage.Names.LogContainer).CreateIfNotExistsAsync();
        var log = new BlobLog(storage.Blobs.GetBlobContainerClient(storage.Names.LogContainer), new BlobLogOptions { Name = "reload" + Guid.NewGuid().ToString("N")[..8], Partitions = 4 });

        // Separate directories with the production TTL, as a gateway and a runner in separate processes have.
        var ttl = new TenantDirectoryOptions().CacheTtl;
        await using var gateway = await InProcessGateway.StartAsync(log, new TenantDirectory(store));
        using var stop = new CancellationTokenSource();
        var services = await ProcessingServices.CreateAsync(log, storage, new TenantDirectory(store),
            new DrainOptions { LeaseTtl = TimeSpan.FromSeconds(6), ExportTimeout = TimeSpan.FromSeconds(2), IdleTimeout = TimeSpan.FromSeconds(2) },
            Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, ServerlessOtlp.Tests.Export.TestEgress.Local);
        var runner = new LocalRunner(services, new LocalRunnerOptions { DispatchInterval = TimeSpan.FromMilliseconds(500) }).RunAsync(stop.Token);
        using var http = new HttpClient { BaseAddress = gateway.HttpUri };
        try
        {
            // Version 1: no sampling, no transform. Everything arrives unchanged.
            var first = Request("v1", 200);
            await SendAsync(http, key, first);
            var delivered = await WaitForAsync(dir, first.Ids.Count);
            Assert.All(first.Ids, id => Assert.True(delivered.ContainsKey(id), $"span {id} (sent under version 1) never arrived"));
            Assert.All(first.Ids, id => Assert.Null(delivered[id].Version));

            // Version 2, applied while the gateway and the runner keep running: 25 % consistent sampling and a transform.
            await store.ApplyAsync(new TenantFile { Tenants = [Config(tenant, key, dir, version: 2, percentage: 25)] });
            await Task.Delay(ttl + TimeSpan.FromMilliseconds(500)); // every cached copy of version 1 has expired

            var second = Request("v2", 400);
            var sampler = new TraceSampler(SamplingMode.Proportional, 25);
            var expected = second.Ids.Where(id => sampler.Decide(second.TraceIds[id], null).Keep).ToHashSet();
            Assert.InRange(expected.Count, 40, 160); // 25 % of 400, loosely: the set itself is asserted below
            await SendAsync(http, key, second);
            delivered = await WaitForAsync(dir, first.Ids.Count + expected.Count);
            await Task.Delay(1000); // anything wrongly kept would arrive in the same drain rounds
            delivered = Read(dir);

            var arrived = second.Ids.Where(delivered.ContainsKey).ToHashSet();
            output.WriteLine($"version 2: {arrived.Count} of {second.Ids.Count} spans kept, {expected.Count} expected");
            Assert.Equal(expected.OrderBy(x => x), arrived.OrderBy(x => x));
            foreach (var id in arrived)
            {
                Assert.Equal("2", delivered[id].Version);
                Assert.Contains("th:c", delivered[id].TraceState, StringComparison.Ordinal); // 25 % = th:c
            }
        }
        finally
        {
            await stop.CancelAsync();
            await runner;
        }
    }

    private static TenantConfig Config(string id, string key, string dir, int version, double? percentage) => new()
    {
        Id = id,
        ApiKeys = [key],
        Sampling = percentage is { } p ? new SamplingConfig { Traces = new TraceSamplingConfig { SamplingPercentage = p } } : null,
        Transforms = version > 1 ? new OttlStatements { Traces = [$"set(span.attributes[\"{VersionAttribute}\"], \"{version}\")"] } : null,
        Destinations = [new DestinationConfig { Name = "files", Kind = FileDestination.KindName, Signals = [Signal.Traces], Settings = new FileSettings { Path = dir } }],
    };

    private sealed record Sent(ExportTraceServiceRequest Request, List<string> Ids, Dictionary<string, byte[]> TraceIds);

    private static Sent Request(string prefix, int spans)
    {
        var scope = new ScopeSpans { Scope = new InstrumentationScope { Name = "hot-reload" } };
        var ids = new List<string>(spans);
        var traceIds = new Dictionary<string, byte[]>(spans);
        ulong now = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000UL;
        for (int i = 0; i < spans; i++)
        {
            string id = $"{prefix}-{i}";
            var traceId = RandomNumberGenerator.GetBytes(16);
            traceId[0] |= 1;
            var span = new Span
            {
                TraceId = ByteString.CopyFrom(traceId),
                SpanId = ByteString.CopyFrom(RandomNumberGenerator.GetBytes(8)),
                Name = "op",
                StartTimeUnixNano = now,
                EndTimeUnixNano = now + 1_000_000,
            };
            span.Attributes.Add(new KeyValue { Key = LossChecker.IdAttribute, Value = new AnyValue { StringValue = id } });
            scope.Spans.Add(span);
            ids.Add(id);
            traceIds[id] = traceId;
        }

        var resource = new Resource { Attributes = { new KeyValue { Key = "service.name", Value = new AnyValue { StringValue = "hot-reload" } } } };
        return new Sent(new ExportTraceServiceRequest { ResourceSpans = { new ResourceSpans { Resource = resource, ScopeSpans = { scope } } } }, ids, traceIds);
    }

    private static async Task SendAsync(HttpClient http, string key, Sent sent)
    {
        using var content = new ByteArrayContent(sent.Request.ToByteArray());
        content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/x-protobuf");
        using var message = new HttpRequestMessage(HttpMethod.Post, "/v1/traces") { Content = content };
        message.Headers.Add("x-api-key", key);
        using var response = await http.SendAsync(message);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private sealed record Arrived(string? Version, string TraceState);

    private static async Task<Dictionary<string, Arrived>> WaitForAsync(string dir, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var delivered = Read(dir);
            if (delivered.Count >= count || DateTime.UtcNow > deadline)
            {
                return delivered;
            }

            await Task.Delay(250);
        }
    }

    private static Dictionary<string, Arrived> Read(string dir)
    {
        var delivered = new Dictionary<string, Arrived>(StringComparer.Ordinal);
        if (!Directory.Exists(dir))
        {
            return delivered;
        }

        foreach (var file in Directory.EnumerateFiles(dir, "traces*.jsonl"))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            while (reader.ReadLine() is { } line)
            {
                if (line.Length == 0)
                {
                    continue;
                }

                var request = OtlpJson.Parse<ExportTraceServiceRequest>(Encoding.UTF8.GetBytes(line));
                foreach (var span in request.ResourceSpans.SelectMany(r => r.ScopeSpans).SelectMany(s => s.Spans))
                {
                    string? id = null, version = null;
                    foreach (var attribute in span.Attributes)
                    {
                        if (attribute.Key == LossChecker.IdAttribute)
                        {
                            id = attribute.Value.StringValue;
                        }
                        else if (attribute.Key == VersionAttribute)
                        {
                            version = attribute.Value.StringValue;
                        }
                    }

                    if (id != null)
                    {
                        delivered[id] = new Arrived(version, span.TraceState);
                    }
                }
            }
        }

        return delivered;
    }
}
