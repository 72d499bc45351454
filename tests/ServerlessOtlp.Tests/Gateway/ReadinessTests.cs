using System.Net;
using Azure.Data.Tables;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using ServerlessOtlp.Gateway;
using ServerlessOtlp.Log;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Gateway;

/// <summary>
/// /readyz follows what ingest needs (the log and the tenant lookups), not the heartbeat: Table errors
/// on the nodes table must not pull every replica out of the ingress while the log takes data.
/// </summary>
public sealed class ReadinessTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    /// <summary>A table endpoint on a loopback port nothing listens on, with short SDK retries.</summary>
    private static TableServiceClient Unreachable() => new(
        new Uri($"http://127.0.0.1:{TestPorts.Next()}/devstoreaccount1"),
        new TableSharedKeyCredential("devstoreaccount1", "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="),
        new TableClientOptions { Retry = { MaxRetries = 1, Delay = TimeSpan.FromMilliseconds(10), NetworkTimeout = TimeSpan.FromSeconds(5) } });

    [Fact]
    public async Task A_gateway_whose_heartbeats_fail_is_ready_while_its_log_and_tenant_lookups_work()
    {
        var nodes = new NodeStore(Unreachable(), "nodes");
        await using var gateway = await StartAsync(new InMemoryTenantDirectory(TestGateway.DefaultTenants), nodes);
        using var management = new HttpClient { BaseAddress = gateway.Management };

        Assert.Equal(HttpStatusCode.OK, await WaitForAsync(management, s => s == HttpStatusCode.OK));

        // Ingest works: a span is accepted and appended while the nodes table stays unreachable.
        using var http = new HttpClient { BaseAddress = gateway.Http };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/traces") { Content = new ByteArrayContent(OtlpTestRequest()) };
        request.Headers.Add("x-api-key", TestGateway.AcmeKey);
        request.Content.Headers.ContentType = new("application/x-protobuf");
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(request)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await management.GetAsync("/readyz")).StatusCode);
    }

    [Fact]
    public async Task A_gateway_whose_tenant_store_never_answered_is_not_ready_and_says_why()
    {
        var tenants = new TenantDirectory(new TenantStore(Unreachable(), "tenants"));
        await using var gateway = await StartAsync(tenants, nodes: null);
        using var management = new HttpClient { BaseAddress = gateway.Management };

        using var deadline = new CancellationTokenSource(Patience);
        string body;
        do
        {
            await Task.Delay(50, deadline.Token);
            using var answer = await management.GetAsync("/readyz", deadline.Token);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, answer.StatusCode);
            body = await answer.Content.ReadAsStringAsync(deadline.Token);
        }
        while (!body.Contains("tenant store unreachable", StringComparison.Ordinal));
    }

    private static byte[] OtlpTestRequest() => Processing.DrainTestContext.SpanBody(1);

    private static async Task<HttpStatusCode> WaitForAsync(HttpClient client, Func<HttpStatusCode, bool> condition)
    {
        using var deadline = new CancellationTokenSource(Patience);
        while (true)
        {
            var status = (await client.GetAsync("/readyz", deadline.Token)).StatusCode;
            if (condition(status))
            {
                return status;
            }

            await Task.Delay(50, deadline.Token);
        }
    }

    private static async Task<Running> StartAsync(ITenantDirectory tenants, NodeStore? nodes)
    {
        var log = new MemoryLog(2);
        await log.OpenAsync();
        var options = new GatewayOptions
        {
            BindAddress = "127.0.0.1",
            GrpcPort = TestPorts.Next(),
            HttpPort = TestPorts.Next(),
            ManagementPort = TestPorts.Next(),
            NodeId = "gw-ready-" + Guid.NewGuid().ToString("N")[..6],
            HeartbeatInterval = TimeSpan.FromMilliseconds(200),
        };
        var app = GatewayHost.Build(options, new GatewayDependencies(log, tenants, nodes), configure: b => b.Logging.ClearProviders());
        await app.StartAsync();
        return new Running(app, options);
    }

    private sealed class Running(WebApplication app, GatewayOptions options) : IAsyncDisposable
    {
        public Uri Management => new($"http://127.0.0.1:{options.ManagementPort}");

        public Uri Http => new($"http://127.0.0.1:{options.HttpPort}");

        public async ValueTask DisposeAsync()
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await app.StopAsync(stop.Token);
            await app.DisposeAsync();
        }
    }
}
