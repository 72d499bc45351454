using System.Diagnostics;
using System.Net;
using System.Text;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Wire;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Infrastructure;
using ServerlessOtlp.Tests.Reliability;
using Xunit.Abstractions;

namespace ServerlessOtlp.Tests.Gateway;

/// <summary>
/// The gateway container ships as Native AOT, where reflection-based JSON and trimmed
/// constructors fail only at run time. This runs the published native binary (tools/test.sh
/// publishes it to artifacts/gateway-aot) against Azurite and the blob log: tenant lookup from
/// the table and its config blob, the OpenTelemetry SDK over gRPC, OTLP/JSON over HTTP, the split,
/// the append, a refused key, and the heartbeat row with its JSON counters.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class NativeAotGatewayTests(AzuriteFixture azurite, ITestOutputHelper output)
{
    private const int Partitions = 4;

    public static string BinaryPath { get; } = Path.Combine(RepoRoot.Path, "artifacts", "gateway-aot", "ServerlessOtlp.Gateway");

    [Fact]
    public async Task The_published_native_gateway_authenticates_splits_appends_and_heartbeats()
    {
        Assert.True(File.Exists(BinaryPath),
            $"no Native AOT gateway at {BinaryPath}: the README's test command (tools/test.sh) publishes it; by hand: " +
            "dotnet publish gateway-container/ServerlessOtlp.Gateway -c Release -o artifacts/gateway-aot");

        string suffix = Guid.NewGuid().ToString("N")[..8];
        string tenant = "aot" + suffix, key = "aot-key-" + suffix + "-0123456789";
        var storage = new StorageClients(new StorageOptions { ConnectionString = azurite.ConnectionString });
        var store = new TenantStore(storage.Tables, configBlobs: storage.Blobs.GetBlobContainerClient(StorageNames.DefaultTenants));
        await store.EnsureCreatedAsync();
        await new NodeStore(storage.Tables).EnsureCreatedAsync();
        // A config that exercises the stored model: enums, durations, lists, dictionaries, nested policies.
        await store.ApplyAsync(TenantFileParser.Parse($$"""
            { "tenants": [ { "id": "{{tenant}}", "apiKeys": ["{{key}}"], "limits": { "itemsPerSecond": 1000000 },
              "sampling": { "traces": { "mode": "equalizing", "samplingPercentage": 50, "precision": 5 },
                            "tail": { "decisionWait": "2s", "policies": [ { "name": "errors", "type": "status_code", "statusCode": { "statusCodes": ["ERROR"] } } ] } },
              "transforms": { "traces": ["set(attributes[\"aot\"], true)"] },
              "redaction": ["credentials"],
              "destinations": [ { "name": "out", "kind": "otlphttp", "endpoint": "http://127.0.0.1:9/", "headers": { "X-Scope-OrgID": "{{tenant}}" },
                                  "timeout": "5s", "encoding": "json" } ] } ] }
            """, "aot.json"));
        await storage.Blobs.GetBlobContainerClient(StorageNames.DefaultLogContainer).CreateIfNotExistsAsync();
        string logName = "aot" + suffix;
        // Its own drain-jobs queue: the gateway pushes a job per partition it appends to (on by default).
        var drainJobs = storage.Queues.GetQueueClient("aot-jobs-" + suffix);
        await drainJobs.CreateAsync();
        await new LeaseStore(storage.Tables).EnsureCreatedAsync();

        using var native = await NativeGatewayProcess.StartAsync(BinaryPath, new Dictionary<string, string>
        {
            ["ServerlessOtlp__Gateway__HeartbeatInterval"] = "00:00:01",
            ["ServerlessOtlp__Storage__ConnectionString"] = azurite.ConnectionString,
            ["ServerlessOtlp__Log__Kind"] = "blob",
            ["ServerlessOtlp__Log__Name"] = logName,
            ["ServerlessOtlp__Log__Partitions"] = Partitions.ToString(),
            ["ServerlessOtlp__Storage__Names__DrainJobs"] = drainJobs.Name,
        });
        var gateway = native.Process;
        int grpcPort = native.GrpcPort, managementPort = native.ManagementPort;
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{native.HttpPort}"), Timeout = TimeSpan.FromSeconds(10) };

            // The SDK over gRPC: 20 traces of 5 spans.
            string run = Guid.NewGuid().ToString("N");
            var traceIds = new HashSet<string>();
            using (var source = new ActivitySource("aot-" + run))
            using (var provider = Sdk.CreateTracerProviderBuilder()
                       .AddSource(source.Name)
                       .SetSampler(new AlwaysOnSampler())
                       .SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService("aot-" + run))
                       .AddOtlpExporter(o =>
                       {
                           o.Protocol = OtlpExportProtocol.Grpc;
                           o.Endpoint = new Uri($"http://127.0.0.1:{grpcPort}");
                           o.Headers = "x-api-key=" + key;
                       })
                       .Build())
            {
                for (int t = 0; t < 20; t++)
                {
                    using var root = source.StartActivity("root", ActivityKind.Server, parentContext: default)!;
                    traceIds.Add(root.TraceId.ToHexString());
                    for (int s = 1; s < 5; s++)
                    {
                        using var child = source.StartActivity("child");
                    }
                }

                Assert.True(provider.ForceFlush(15_000), "ForceFlush timed out");
            }

            // OTLP/JSON over HTTP, and a key nobody holds.
            const string logsJson = """{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1","body":{"stringValue":"from json"}}]}]}]}""";
            using (var ok = await http.SendAsync(Post("/v1/logs", logsJson, key)))
            {
                Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            }

            using (var refused = await http.SendAsync(Post("/v1/logs", logsJson, "nobody-holds-this-key-0123")))
            {
                Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            }

            // Everything acknowledged is in the log, in the partition of its trace id, under the key's tenant.
            var log = new BlobLog(storage.Blobs.GetBlobContainerClient(StorageNames.DefaultLogContainer), new BlobLogOptions { Name = logName });
            await log.OpenAsync();
            Assert.Equal(Partitions, log.PartitionCount);
            int spans = 0, logRecords = 0;
            var seenTraces = new HashSet<string>();
            var appended = new List<int>();
            for (int p = 0; p < Partitions; p++)
            {
                var batch = await log.ReadAsync(p, LogPosition.Start, 1000, 16 << 20, FencingToken.None);
                if (batch.Events.Count > 0)
                {
                    appended.Add(p);
                }

                foreach (var e in batch.Events)
                {
                    Assert.False(e.IsCorrupt, e.CorruptReason);
                    Assert.Equal(tenant, e.Properties!.Tenant);
                    if (e.Properties.Signal == Signal.Traces)
                    {
                        foreach (var span in ExportTraceServiceRequest.Parser.ParseFrom(e.Body.Span).ResourceSpans.SelectMany(r => r.ScopeSpans).SelectMany(s => s.Spans))
                        {
                            Assert.Equal(PartitionFunction.ForTraceId(span.TraceId.Span, Partitions), p);
                            seenTraces.Add(Convert.ToHexStringLower(span.TraceId.Span));
                            spans++;
                        }
                    }
                    else if (e.Properties.Signal == Signal.Logs)
                    {
                        logRecords += ExportLogsServiceRequest.Parser.ParseFrom(e.Body.Span).ResourceLogs.SelectMany(r => r.ScopeLogs).Sum(s => s.LogRecords.Count);
                    }
                }
            }

            Assert.Equal(100, spans);
            Assert.Equal(traceIds, seenTraces);
            Assert.Equal(1, logRecords);

            // Push-started drains from the native binary: one job per partition appended to, nobody holding its lease.
            var pushed = new List<DrainJob>();
            var waited = Stopwatch.StartNew();
            while (pushed.Count < appended.Count && waited.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(100);
                pushed = (await drainJobs.PeekMessagesAsync(maxMessages: 32)).Value.Select(m => DrainJob.FromJson(m.Body.ToString())).ToList();
            }

            Assert.Equal(appended, pushed.Select(j => j.Partition).Order());
            Assert.All(pushed, j => Assert.Equal("append", j.Reason));

            // The heartbeat row, with counters written as JSON by the native binary.
            var nodes = new NodeStore(storage.Tables);
            var deadline = Stopwatch.StartNew();
            NodeInfo? node = null;
            while (deadline.Elapsed < TimeSpan.FromSeconds(15))
            {
                node = (await nodes.ListAsync("gateway")).FirstOrDefault(n => n.Counters.TryGetValue("accepted", out long a) && a >= 101);
                if (node != null)
                {
                    break;
                }

                await Task.Delay(250);
            }

            Assert.NotNull(node);
            output.WriteLine($"node {node!.Id}: {string.Join(", ", node.Counters.Select(c => $"{c.Key}={c.Value}"))}");

            // Its performance snapshots (source-generated JSON in the native binary): requests and appends with their items.
            Assert.Equal(["append", "gateway"], node.Performance.Keys.Order());
            Assert.True(node.Performance["gateway"].Items.Sum() >= 101, string.Join(",", node.Performance["gateway"].Items));
            Assert.True(node.Performance["append"].Items.Sum() >= 101, string.Join(",", node.Performance["append"].Items));
            Assert.True(node.Performance["gateway"].Latency.Sum() >= 2); // the two requests above, at least
            Assert.DoesNotContain("Exception", gateway.Output, StringComparison.Ordinal);
        }
        finally
        {
            output.WriteLine(gateway.ToString());
        }
    }

    private static HttpRequestMessage Post(string path, string json, string key) =>
        new(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json"), Headers = { { "x-api-key", key } } };

    /// <summary>The hostile-input suite against the binary that ships (Native AOT), not only the JIT build in the test process.</summary>
    [Fact]
    public async Task The_native_gateway_answers_hostile_input_by_the_specification_and_still_serves()
    {
        Assert.True(File.Exists(BinaryPath), $"no Native AOT gateway at {BinaryPath}: the README's test command (tools/test.sh) publishes it");
        var names = AzuriteFixture.UniqueNames();
        var storage = new StorageClients(new StorageOptions { ConnectionString = azurite.ConnectionString, Names = names });
        var store = new TenantStore(storage.Tables, names.Tenants, storage.Blobs.GetBlobContainerClient(names.TenantContainer));
        await store.EnsureCreatedAsync();
        await new NodeStore(storage.Tables, names.Nodes).EnsureCreatedAsync();
        await store.ApplyAsync(new TenantFile { Tenants = [new TenantConfig { Id = "hostile", ApiKeys = [Reliability.HostileInputTests.HostileKey] }] });
        var settings = new Dictionary<string, string>(AzuriteFixture.NameSettings(names))
        {
            ["ServerlessOtlp__Gateway__PushDrainJobs"] = "false", // no drain-jobs queue here
            ["ServerlessOtlp__Storage__ConnectionString"] = azurite.ConnectionString,
            ["ServerlessOtlp__Log__Kind"] = "memory",
            ["ServerlessOtlp__Gateway__MaxRequestBytes"] = Reliability.HostileInputTests.HostileMaxRequestBytes.ToString(),
            ["ServerlessOtlp__Gateway__MaxDecompressedBytes"] = Reliability.HostileInputTests.HostileMaxDecompressedBytes.ToString(),
            ["ServerlessOtlp__Gateway__InFlightBudgetBytes"] = Reliability.HostileInputTests.HostileInFlightBudgetBytes.ToString(),
        };
        using var native = await NativeGatewayProcess.StartAsync(BinaryPath, settings);
        var grpc = new Uri($"http://127.0.0.1:{native.GrpcPort}");
        var http = new Uri($"http://127.0.0.1:{native.HttpPort}");
        int seed = TestSeed.Pick(output);
        var violations = await Reliability.HostileInputTests.SendHostileAsync(grpc, http, Reliability.Soak.Pick(1000, 10000), seed, output);
        try
        {
            Assert.True(violations.IsEmpty, $"{violations.Count} answers outside the OTLP specification, e.g.:\n{string.Join("\n", violations.Take(10))}");
            Assert.False(native.Process.HasExited, "the native gateway died:\n" + native.Process);
            await Reliability.HostileInputTests.AssertStillServesAsync(grpc, http, seed);
            Assert.DoesNotContain("Unhandled", native.Process.Output, StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            output.WriteLine(native.Process.Output.Length > 4000 ? native.Process.Output[^4000..] : native.Process.Output);
        }
    }

    [Fact]
    public async Task The_native_gateway_refuses_to_start_on_settings_that_do_not_validate_and_names_each()
    {
        Assert.True(File.Exists(BinaryPath), $"no Native AOT gateway at {BinaryPath}: the README's test command (tools/test.sh) publishes it");

        // Its storage, log and tenants are composed as the Functions app's are: the same sections, validated at start.
        using var gateway = ChildProcess.Start("native gateway (bad settings)", BinaryPath, Path.GetTempPath(), new Dictionary<string, string>
        {
            ["ServerlessOtlp__Log__Kind"] = "eventhubs",
            // Cleared, whatever the test process's environment holds: the child inherits it.
            ["ServerlessOtlp__Storage__ConnectionString"] = "",
            ["ServerlessOtlp__Storage__AccountName"] = "",
            ["ServerlessOtlp__Log__EventHubs__ConnectionString"] = "",
            ["ServerlessOtlp__Log__EventHubs__FullyQualifiedNamespace"] = "",
            ["ServerlessOtlp__Gateway__GrpcPort"] = TestPorts.Next().ToString(),
            ["ServerlessOtlp__Gateway__HttpPort"] = TestPorts.Next().ToString(),
            ["ServerlessOtlp__Gateway__ManagementPort"] = TestPorts.Next().ToString(),
        }, []);
        using var hang = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        int exit = await gateway.WaitForExitAsync(hang.Token);

        output.WriteLine(gateway.ToString());
        Assert.NotEqual(0, exit);
        Assert.Contains("ServerlessOtlp:Storage: set ConnectionString (Azurite) or AccountName", gateway.Output, StringComparison.Ordinal);
        Assert.Contains("ServerlessOtlp:Log: Kind eventhubs needs EventHubs:FullyQualifiedNamespace", gateway.Output, StringComparison.Ordinal);
    }
}

/// <summary>The published Native AOT gateway as a child process on ports of its own, ready when returned.</summary>
public sealed class NativeGatewayProcess : IDisposable
{
    private NativeGatewayProcess(ChildProcess process, int grpc, int http, int management)
    {
        Process = process;
        GrpcPort = grpc;
        HttpPort = http;
        ManagementPort = management;
    }

    public ChildProcess Process { get; }

    public int GrpcPort { get; }

    public int HttpPort { get; }

    public int ManagementPort { get; }

    public static async Task<NativeGatewayProcess> StartAsync(string binary, IReadOnlyDictionary<string, string> settings)
    {
        for (int attempt = 1; ; attempt++)
        {
            int grpc = TestPorts.Next(), http = TestPorts.Next(), management = TestPorts.Next();
            var environment = new Dictionary<string, string>(settings)
            {
                ["ServerlessOtlp__Gateway__BindAddress"] = "127.0.0.1",
                ["ServerlessOtlp__Gateway__GrpcPort"] = grpc.ToString(),
                ["ServerlessOtlp__Gateway__HttpPort"] = http.ToString(),
                ["ServerlessOtlp__Gateway__ManagementPort"] = management.ToString(),
            };
            var process = ChildProcess.Start("native gateway", binary, Path.GetTempPath(), environment, []);
            if (await WaitReadyAsync(http, process))
            {
                return new NativeGatewayProcess(process, grpc, http, management);
            }

            string output = process.ToString();
            process.Dispose();
            // Another process bound one of the ports first: take others.
            Assert.True(attempt < 5 && TestPorts.LostItsPort(output), "the native gateway did not become ready:\n" + output);
        }
    }

    private static async Task<bool> WaitReadyAsync(int port, ChildProcess gateway)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (gateway.HasExited)
            {
                return false;
            }

            try
            {
                using var ready = await http.GetAsync("/readyz");
                if (ready.IsSuccessStatusCode)
                {
                    return true;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            catch (TaskCanceledException)
            {
                // busy machine: ask again
            }

            await Task.Delay(200);
        }

        return false;
    }

    public void Dispose() => Process.Dispose();
}
