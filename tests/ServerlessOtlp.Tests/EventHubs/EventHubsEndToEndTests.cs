using System.Diagnostics;
using System.Text.Json;
using Azure.Storage.Queues;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Functions;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Wire;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Gateway;
using ServerlessOtlp.Tests.Infrastructure;
using Xunit.Abstractions;
using FunctionsProgram = ServerlessOtlp.Functions.Program;

namespace ServerlessOtlp.Tests.EventHubs;

/// <summary>
/// The production path on the local Event Hubs endpoint: the OpenTelemetry .NET SDK → the gateway (JIT in
/// this process, or the published Native AOT binary) → Event Hubs through the real SDK → Dispatch and Drain
/// as the Functions worker host composes them → the tenant's file destination. Every span arrives once, and
/// every span sits in the partition the partition function names for its trace id.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class EventHubsEndToEndTests(AzuriteFixture azurite, ITestOutputHelper output)
{
    private const int Partitions = 4, Traces = 30, SpansPerTrace = 6;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task SDK_to_the_JIT_gateway_to_Event_Hubs_to_the_Functions_drain_delivers_every_span_in_its_trace_partition()
    {
        await using var world = await World.CreateAsync(azurite);
        await using var log = await world.Hub.OpenLogAsync();
        await using var gateway = await TestGateway.StartAsync(log, new TenantFile { Tenants = [new TenantConfig { Id = world.Tenant, ApiKeys = [world.Key] }] });

        await world.RunAsync(gateway.GrpcUri, output);
    }

    [SkippableFact]
    public async Task SDK_to_the_Native_AOT_gateway_to_Event_Hubs_to_the_Functions_drain_delivers_every_span_in_its_trace_partition()
    {
        Skip.IfNot(File.Exists(NativeAotGatewayTests.BinaryPath), $"no Native AOT gateway at {NativeAotGatewayTests.BinaryPath}: tools/test.sh publishes it");
        await using var world = await World.CreateAsync(azurite);
        var settings = new Dictionary<string, string>(AzuriteFixture.NameSettings(world.Names))
        {
            ["ServerlessOtlp__Storage__ConnectionString"] = azurite.ConnectionString,
            ["ServerlessOtlp__Log__Kind"] = "eventhubs",
            ["ServerlessOtlp__Log__EventHubs__ConnectionString"] = world.Hub.ConnectionString,
            ["ServerlessOtlp__Log__EventHubs__EventHubName"] = world.Hub.Options.EventHubName,
        };
        using var native = await NativeGatewayProcess.StartAsync(NativeAotGatewayTests.BinaryPath, settings);
        try
        {
            await world.RunAsync(new Uri($"http://127.0.0.1:{native.GrpcPort}"), output);
            Assert.DoesNotContain("Unhandled", native.Process.Output, StringComparison.OrdinalIgnoreCase);
        }
        catch
        {
            output.WriteLine(native.Process.ToString());
            throw;
        }
    }

    /// <summary>A hub, storage names, a tenant with a key and a file destination, and the Functions worker host over them.</summary>
    private sealed class World : IAsyncDisposable
    {
        private World(AzuriteFixture azurite, EmulatedHub hub)
        {
            Azurite = azurite;
            Hub = hub;
            FileRoot = Directory.CreateTempSubdirectory("eh-e2e-").FullName;
            // The Functions host writes under the operator's file root, in the tenant's namespace.
            OutDir = Path.Combine(FileRoot, TenantNamespace.Of(Tenant), "out");
        }

        public AzuriteFixture Azurite { get; }

        public EmulatedHub Hub { get; }

        public StorageNames Names { get; } = AzuriteFixture.UniqueNames();

        public string Tenant { get; } = "eh" + Guid.NewGuid().ToString("N")[..8];

        public string Key { get; } = "eh-key-" + Guid.NewGuid().ToString("N");

        public string FileRoot { get; }

        public string OutDir { get; }

        public static async Task<World> CreateAsync(AzuriteFixture azurite)
        {
            var world = new World(azurite, await EmulatedHub.StartAsync(Partitions));
            var storage = new StorageClients(new StorageOptions { ConnectionString = azurite.ConnectionString, Names = world.Names });
            var store = new TenantStore(storage.Tables, world.Names.Tenants, storage.Blobs.GetBlobContainerClient(world.Names.TenantContainer));
            await store.EnsureCreatedAsync();
            await new NodeStore(storage.Tables, world.Names.Nodes).EnsureCreatedAsync();
            await store.ApplyAsync(new TenantFile
            {
                Tenants = [new TenantConfig { Id = world.Tenant, ApiKeys = [world.Key], Destinations = [new DestinationConfig { Name = "out", Kind = FileDestination.KindName, Signals = [Signal.Traces], Settings = new FileSettings { Path = "out" } }] }],
            });
            return world;
        }

        public async Task RunAsync(Uri grpc, ITestOutputHelper output)
        {
            // 1. The SDK sends; ForceFlush returns once every export was answered (acknowledged: in Event Hubs).
            string run = Guid.NewGuid().ToString("N");
            var sent = new HashSet<string>(StringComparer.Ordinal);
            using (var source = new ActivitySource("eh-" + run))
            using (var provider = Sdk.CreateTracerProviderBuilder()
                       .AddSource(source.Name)
                       .SetSampler(new AlwaysOnSampler())
                       .SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService("eh-" + run))
                       .AddOtlpExporter(o =>
                       {
                           o.Protocol = OtlpExportProtocol.Grpc;
                           o.Endpoint = grpc;
                           o.Headers = "x-api-key=" + Key;
                           o.TimeoutMilliseconds = 30_000;
                       })
                       .Build())
            {
                for (int t = 0; t < Traces; t++)
                {
                    using var root = source.StartActivity("root", ActivityKind.Server, parentContext: default)!;
                    root.SetTag("uid", $"{t}-0");
                    sent.Add($"{t}-0");
                    for (int s = 1; s < SpansPerTrace; s++)
                    {
                        using var child = source.StartActivity("child")!;
                        child.SetTag("uid", $"{t}-{s}");
                        sent.Add($"{t}-{s}");
                    }
                }

                Assert.True(provider.ForceFlush(60_000), "ForceFlush timed out");
            }

            // 2. In the hub: every span in the partition of its trace id, with the key's tenant.
            await using (var reader = (await Hub.OpenLogAsync()).WithConsumerGroup(EmulatedHub.ReplayGroup))
            {
                int spans = 0;
                var used = new HashSet<int>();
                for (int p = 0; p < Partitions; p++)
                {
                    foreach (var e in await ReadAllAsync(reader, p))
                    {
                        Assert.Equal(Tenant, e.Properties!.Tenant);
                        foreach (var span in ExportTraceServiceRequest.Parser.ParseFrom(e.Body.Span).ResourceSpans.SelectMany(r => r.ScopeSpans).SelectMany(s => s.Spans))
                        {
                            Assert.Equal(PartitionFunction.ForTraceId(span.TraceId.Span, Partitions), p);
                            spans++;
                            used.Add(p);
                        }
                    }
                }

                Assert.Equal(sent.Count, spans);
                Assert.True(used.Count > 1, $"{Traces} traces should spread over several of {Partitions} partitions");
            }

            // 3. The Functions worker host as deployed drains it: Dispatch, then Drain for each queued job.
            var settings = new Dictionary<string, string>(AzuriteFixture.NameSettings(Names))
            {
                ["ServerlessOtlp__Storage__ConnectionString"] = Azurite.ConnectionString,
                ["ServerlessOtlp__Log__Kind"] = "eventhubs",
                ["ServerlessOtlp__Log__EventHubs__ConnectionString"] = Hub.ConnectionString,
                ["ServerlessOtlp__Log__EventHubs__EventHubName"] = Hub.Options.EventHubName,
                ["ServerlessOtlp__Log__EventHubs__ConsumerGroup"] = EmulatedHub.LiveGroup,
                ["ServerlessOtlp__Log__EventHubs__ReplayConsumerGroup"] = EmulatedHub.ReplayGroup,
                ["ServerlessOtlp__Export__FileRoot"] = FileRoot,
                ["ServerlessOtlp__Drain__IdleTimeout"] = "00:00:00.300",
            };
            using var host = FunctionsProgram.CreateBuilder(settings.Select(s => $"--{s.Key.Replace("__", ":", StringComparison.Ordinal)}={s.Value}").ToArray()).Build();
            host.Services.GetRequiredService<IStartupValidator>().Validate();
            var dispatch = ActivatorUtilities.CreateInstance<DispatchFunction>(host.Services);
            var drain = ActivatorUtilities.CreateInstance<DrainFunction>(host.Services);
            var queue = new QueueClient(Azurite.ConnectionString, Names.DrainJobs, new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None });
            var enqueued = await dispatch.DispatchAsync();
            output.WriteLine($"dispatch enqueued partitions [{string.Join(",", enqueued)}]");
            Assert.NotEmpty(enqueued);
            using var deadline = new CancellationTokenSource(Patience);
            while ((await queue.ReceiveMessagesAsync(maxMessages: 32, cancellationToken: deadline.Token)).Value is { Length: > 0 } messages)
            {
                foreach (var message in messages)
                {
                    var result = await drain.DrainAsync(message.Body.ToString(), deadline.Token);
                    output.WriteLine($"drain {message.Body}: {result?.End} after {result?.Events} events");
                    await queue.DeleteMessageAsync(message.MessageId, message.PopReceipt, deadline.Token);
                }
            }

            // 4. Every span delivered once, and the checkpoints at the end of the log.
            var delivered = DeliveredUids();
            Assert.Equal(sent.Order(StringComparer.Ordinal), delivered.Order(StringComparer.Ordinal));
            var runtime = await host.Services.GetRequiredService<ProcessingHost>().GetAsync();
            foreach (var status in await runtime.Dispatcher.GetStatusAsync())
            {
                Assert.Equal(0, status.Lag);
            }
        }

        private static async Task<List<ReadEvent>> ReadAllAsync(IPartitionedLog log, int partition)
        {
            var end = await log.GetEndAsync(partition);
            var events = new List<ReadEvent>();
            var position = LogPosition.Start;
            using var deadline = new CancellationTokenSource(Patience);
            while (end.Value > 0 && (position.IsStart || position < end))
            {
                var batch = await log.ReadAsync(partition, position, 100, 8 * 1024 * 1024, FencingToken.None, deadline.Token);
                events.AddRange(batch.Events);
                position = batch.Next;
            }

            return events;
        }

        /// <summary>The <c>uid</c> attribute of every span in the tenant's traces.jsonl, with repeats.</summary>
        private List<string> DeliveredUids()
        {
            string file = Path.Combine(OutDir, "traces.jsonl");
            var uids = new List<string>();
            if (!File.Exists(file))
            {
                return uids;
            }

            foreach (string line in File.ReadLines(file))
            {
                using var doc = JsonDocument.Parse(line);
                foreach (var rs in doc.RootElement.GetProperty("resourceSpans").EnumerateArray())
                {
                    foreach (var ss in rs.GetProperty("scopeSpans").EnumerateArray())
                    {
                        foreach (var span in ss.GetProperty("spans").EnumerateArray())
                        {
                            uids.AddRange(span.GetProperty("attributes").EnumerateArray()
                                .Where(a => a.GetProperty("key").GetString() == "uid")
                                .Select(a => a.GetProperty("value").GetProperty("stringValue").GetString()!));
                        }
                    }
                }
            }

            return uids;
        }

        public async ValueTask DisposeAsync()
        {
            await Hub.DisposeAsync();
            try
            {
                Directory.Delete(FileRoot, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
