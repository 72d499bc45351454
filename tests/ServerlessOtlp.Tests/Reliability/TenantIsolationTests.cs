using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using OpenTelemetry.Proto.Common.V1;
using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Cli;
using ServerlessOtlp.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ServerlessOtlp.Tests.Reliability;

/// <summary>
/// Tenant isolation end to end (gateway and local runner in this process, tenants and log on
/// Azurite, file destinations): the tenant comes from the key only — resource attributes and
/// <c>X-Scope-OrgID</c> claiming another tenant change nothing; a revoked key is refused within
/// the tenant cache TTL; and no plain key ever appears in any log line or output file.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class TenantIsolationTests(AzuriteFixture azurite, ITestOutputHelper output)
{
    private sealed class Stack : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private Task _runner = Task.CompletedTask;

        public required StorageClients Storage { get; init; }

        public required TenantStore Tenants { get; init; }

        public required InProcessGateway Gateway { get; init; }

        public required CapturingLoggerProvider RunnerLogs { get; init; }

        public required IPartitionedLog Log { get; init; }

        public ProcessingServices? Services { get; private set; }

        /// <param name="directoryTime">The clock of the gateway's tenant cache (its TTL); the system clock when null.</param>
        public static async Task<Stack> StartAsync(string connection, TenantFile tenants, bool runner, TimeProvider? directoryTime = null)
        {
            var storage = new StorageClients(new StorageOptions { ConnectionString = connection, Names = AzuriteFixture.UniqueNames() });
            var store = new TenantStore(storage.Tables, storage.Names.Tenants, storage.Blobs.GetBlobContainerClient(storage.Names.TenantContainer));
            await store.EnsureCreatedAsync();
            await store.ApplyAsync(tenants);
            await storage.Blobs.GetBlobContainerClient(storage.Names.LogContainer).CreateIfNotExistsAsync();
            // A log of its own on the shared Azurite: no other test's data, leases or checkpoints.
            var log = new BlobLog(storage.Blobs.GetBlobContainerClient(storage.Names.LogContainer), new BlobLogOptions { Name = "iso" + Guid.NewGuid().ToString("N")[..8], Partitions = 4 });
            var directory = new TenantDirectory(store, timeProvider: directoryTime); // the production cache TTL (10 s)
            var gateway = await InProcessGateway.StartAsync(log, directory);
            var runnerLogs = new CapturingLoggerProvider();
            var stack = new Stack { Storage = storage, Tenants = store, Gateway = gateway, RunnerLogs = runnerLogs, Log = log };
            if (runner)
            {
                var loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(runnerLogs));
                stack.Services = await ProcessingServices.CreateAsync(log, storage, new TenantDirectory(store),
                    new DrainOptions { LeaseTtl = TimeSpan.FromSeconds(6), ExportTimeout = TimeSpan.FromSeconds(2), IdleTimeout = TimeSpan.FromSeconds(2) }, loggers, ServerlessOtlp.Tests.Export.TestEgress.Local);
                stack._runner = new LocalRunner(stack.Services, new LocalRunnerOptions { DispatchInterval = TimeSpan.FromMilliseconds(500) }).RunAsync(stack._stop.Token);
            }

            return stack;
        }

        /// <summary>Every captured log line of the gateway and the runner.</summary>
        public string AllLogs => Gateway.Logs.Text + "\n" + RunnerLogs.Text;

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _runner;
            await Gateway.DisposeAsync();
            _stop.Dispose();
        }
    }

    private static TenantConfig Tenant(string id, string key, string dir) => new()
    {
        Id = id,
        ApiKeys = [key],
        Destinations = [new DestinationConfig { Name = "files", Kind = FileDestination.KindName, Signals = [Signal.Traces, Signal.Logs], Settings = new FileSettings { Path = dir } }],
    };

    private static void AssertNoKeys(string where, string text, params string[] keys)
    {
        foreach (var key in keys)
        {
            Assert.False(text.Contains(key, StringComparison.Ordinal), $"a plain API key appears in {where}");
        }
    }

    [Fact]
    public async Task Data_sent_with_A_key_reaches_only_A_even_when_it_claims_B_and_no_key_is_ever_logged()
    {
        string run = Guid.NewGuid().ToString("N")[..6];
        string a = "iso-a-" + run, b = "iso-b-" + run;
        string keyA = CliTestData.NewKey(), keyB = CliTestData.NewKey(), wrongKey = CliTestData.NewKey();
        string root = CliTestData.TempDir("isolation");
        string dirA = Path.Combine(root, "a"), dirB = Path.Combine(root, "b");
        await using var stack = await Stack.StartAsync(azurite.ConnectionString, new TenantFile { Tenants = [Tenant(a, keyA, dirA), Tenant(b, keyB, dirB)] }, runner: true);

        var checkerA = new LossChecker();
        var checkerB = new LossChecker();
        KeyValue Claim(string k) => new() { Key = k, Value = new AnyValue { StringValue = b } };

        // A's key over gRPC, claiming B every way a client might: resource attributes and headers.
        using (var claimsB = new RetryingClient(stack.Gateway.GrpcUri, keyA, checkerA, "a-claims-b")
               {
                   ResourceAttributes = [Claim("tenant"), Claim("tenant.id"), Claim("X-Scope-OrgID"), Claim("service.namespace")],
                   Headers = new Dictionary<string, string> { ["x-scope-orgid"] = b, ["x-tenant"] = b },
                   GiveUpAfter = TimeSpan.FromSeconds(30),
               })
        {
            for (int i = 0; i < 10; i++)
            {
                Assert.Equal(StatusCode.OK, await claimsB.SendAsync(10));
            }
        }

        // A's key over HTTP with X-Scope-OrgID: B (protobuf and JSON).
        using (var http = new HttpClient { BaseAddress = stack.Gateway.HttpUri })
        using (var builder = new RetryingClient(stack.Gateway.GrpcUri, keyA, checkerA, "a-http") { ResourceAttributes = [Claim("tenant.id")] })
        {
            foreach (bool json in new[] { false, true })
            {
                var (request, ids, _) = builder.Build(10);
                checkerA.Sent(ids);
                var content = new ByteArrayContent(json ? System.Text.Encoding.UTF8.GetBytes(ServerlessOtlp.Otlp.Json.OtlpJson.Format(request)) : request.ToByteArray());
                content.Headers.ContentType = MediaTypeHeaderValue.Parse(json ? "application/json" : "application/x-protobuf");
                using var message = new HttpRequestMessage(HttpMethod.Post, "/v1/traces") { Content = content };
                message.Headers.Add("x-api-key", keyA);
                message.Headers.Add("X-Scope-OrgID", b);
                using var response = await http.SendAsync(message);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                checkerA.Accepted(ids);
            }

            // An unknown key, and B's key in a header that is not a credential, are refused.
            using var refused = new HttpRequestMessage(HttpMethod.Post, "/v1/traces") { Content = new ByteArrayContent(builder.Build(1).Request.ToByteArray()) };
            refused.Content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/x-protobuf");
            refused.Headers.Add("x-api-key", wrongKey);
            refused.Headers.Add("X-Scope-OrgID", keyB);
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(refused)).StatusCode);
        }

        // B's own data, with B's key.
        using (var clientB = new RetryingClient(stack.Gateway.GrpcUri, keyB, checkerB, "b-own"))
        {
            for (int i = 0; i < 5; i++)
            {
                Assert.Equal(StatusCode.OK, await clientB.SendAsync(10));
            }
        }

        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            checkerA.ReadDelivered(dirA);
            checkerB.ReadDelivered(dirB);
            if ((checkerA.AllAcknowledgedArrived() && checkerB.AllAcknowledgedArrived()) || DateTime.UtcNow > deadline)
            {
                break;
            }

            await Task.Delay(250);
        }

        await Task.Delay(1000);
        checkerA.ReadDelivered(dirA);
        checkerB.ReadDelivered(dirB);
        await checkerA.ReadDeadLettersAsync(stack.Services!.DeadLetters, a);
        await checkerB.ReadDeadLettersAsync(stack.Services!.DeadLetters, b);
        var reportA = checkerA.Check();
        var reportB = checkerB.Check();
        output.WriteLine($"A: {reportA}\nB: {reportB}");
        // "Unexpected" would list any id of the other tenant found in this tenant's destination.
        reportA.AssertNoLoss();
        reportB.AssertNoLoss();
        Assert.Equal(120, reportA.Delivered);
        Assert.Equal(50, reportB.Delivered);

        string logs = stack.AllLogs;
        output.WriteLine($"{stack.Gateway.Logs.Entries.Count} gateway and {stack.RunnerLogs.Entries.Count} runner log entries captured (Trace level and up)");
        Assert.True(stack.Gateway.Logs.Entries.Count > 0 && stack.RunnerLogs.Entries.Count > 0, "nothing was captured: the check would prove nothing");
        AssertNoKeys("the gateway or runner logs", logs, keyA, keyB, wrongKey);
        foreach (var file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
        {
            AssertNoKeys(file, await File.ReadAllTextAsync(file), keyA, keyB, wrongKey);
        }
    }

    [Fact]
    public async Task A_revoked_key_is_refused_within_the_tenant_cache_TTL_and_never_logged()
    {
        string tenant = "iso-revoke-" + Guid.NewGuid().ToString("N")[..6];
        string oldKey = CliTestData.NewKey();
        string dir = CliTestData.TempDir("isolation-revoke");
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var stack = await Stack.StartAsync(azurite.ConnectionString, new TenantFile { Tenants = [Tenant(tenant, oldKey, dir)] }, runner: false, time);
        var checker = new LossChecker();
        using var client = new RetryingClient(stack.Gateway.GrpcUri, oldKey, checker, "revoke") { GiveUpAfter = TimeSpan.FromSeconds(5) };
        Assert.Equal(StatusCode.OK, await client.SendAsync(2)); // the key is now cached

        string newKey = await stack.Tenants.RotateKeyAsync(tenant);

        // The cache's clock is fake: the old key works exactly until the TTL has passed, not a tick longer.
        var ttl = new TenantDirectoryOptions().CacheTtl;
        Assert.Equal(StatusCode.OK, await client.SendAsync(1));
        time.Advance(ttl - TimeSpan.FromTicks(1));
        Assert.Equal(StatusCode.OK, await client.SendAsync(1));
        time.Advance(TimeSpan.FromTicks(1));
        Assert.Equal(StatusCode.Unauthenticated, await client.SendAsync(1));
        output.WriteLine($"the rotated-out key was refused once the cache TTL ({ttl.TotalSeconds} s) had passed");

        using (var fresh = new RetryingClient(stack.Gateway.GrpcUri, newKey, checker, "revoke-new"))
        {
            Assert.Equal(StatusCode.OK, await fresh.SendAsync(1));
        }

        AssertNoKeys("the gateway logs", stack.AllLogs, oldKey, newKey);
    }
}
