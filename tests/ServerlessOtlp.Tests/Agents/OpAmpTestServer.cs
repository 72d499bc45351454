using System.IO.Compression;
using System.Net.Http.Headers;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpAmp.Proto.V1;
using ServerlessOtlp.Gateway;
using ServerlessOtlp.Gateway.Agents;
using ServerlessOtlp.Gateway.Ingest;
using ServerlessOtlp.Log;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Agents;

/// <summary>
/// The real gateway (Kestrel on test ports, an in-memory log) with a given agents store, tenant directory and
/// clock, for OpAMP protocol tests; plus a raw OpAMP-over-HTTP client.
/// </summary>
internal sealed class OpAmpTestServer : IAsyncDisposable
{
    public const string AcmeKey = "acme-opamp-key-0123456789";
    public const string GlobexKey = "globex-opamp-key-0123456789";
    public const string PublicUrl = "https://gateway.example.test";

    public const string EdgeBody = """
        receivers:
          otlp:
            protocols:
              grpc: {}
        exporters:
          otlphttp:
            endpoint: ${serverlessotlp:endpoint}
            headers:
              x-api-key: ${serverlessotlp:api_key}
        service:
          pipelines:
            traces:
              receivers: [otlp]
              exporters: [otlphttp]
        """;

    private OpAmpTestServer(WebApplication app, GatewayOptions options, IAgentStore store, InMemoryTenantDirectory tenants)
    {
        App = app;
        Options = options;
        Store = store;
        Tenants = tenants;
    }

    public WebApplication App { get; }

    public GatewayOptions Options { get; }

    public IAgentStore Store { get; }

    public InMemoryTenantDirectory Tenants { get; }

    public OpAmpMetrics Metrics => App.Services.GetRequiredService<OpAmpMetrics>();

    public AgentRegistry Registry => App.Services.GetRequiredService<AgentRegistry>();

    public InFlightBudget Budget => App.Services.GetRequiredService<IngestService>().Budget;

    public Uri OpAmpUri => new($"http://127.0.0.1:{Options.HttpPort}/v1/opamp");

    /// <summary>Two tenants: acme with an "edge" config for service.name=checkout and a default, globex with its own default.</summary>
    public static TenantFile DefaultTenants(int? acmeMaxAgents = null) => new()
    {
        Tenants =
        [
            new TenantConfig
            {
                Id = "acme",
                ApiKeys = [AcmeKey],
                Agents = new AgentsConfig
                {
                    MaxAgents = acmeMaxAgents,
                    Configs =
                    [
                        new AgentConfigEntry { Name = "edge", Match = new Dictionary<string, string> { ["service.name"] = "checkout" }, Body = EdgeBody },
                        new AgentConfigEntry { Name = "default", Body = "receivers: {}\n" },
                    ],
                },
            },
            new TenantConfig
            {
                Id = "globex",
                ApiKeys = [GlobexKey],
                Agents = new AgentsConfig { Configs = [new AgentConfigEntry { Name = "globex-default", Body = "exporters: {}\n" }] },
            },
        ],
    };

    public static async Task<OpAmpTestServer> StartAsync(IAgentStore? store = null, TenantFile? tenants = null, TimeProvider? time = null, Action<GatewayOptions>? configure = null)
    {
        var log = new MemoryLog(2);
        await log.OpenAsync();
        var directory = new InMemoryTenantDirectory(tenants ?? DefaultTenants());
        store ??= new InMemoryAgentStore(time);
        for (int attempt = 0; ; attempt++)
        {
            var options = new GatewayOptions
            {
                BindAddress = "127.0.0.1",
                GrpcPort = TestPorts.Next(),
                HttpPort = TestPorts.Next(),
                ManagementPort = TestPorts.Next(),
                NodeId = "gw-opamp-test",
                PublicUrl = PublicUrl,
            };
            configure?.Invoke(options);
            var app = GatewayHost.Build(options, new GatewayDependencies(log, directory, null, null, store), configure: b =>
            {
                b.Logging.ClearProviders();
                if (time is not null)
                {
                    b.Services.AddSingleton(time);
                }
            });
            try
            {
                await app.StartAsync();
                return new OpAmpTestServer(app, options, store, directory);
            }
            catch (IOException) when (attempt < 3)
            {
                await app.DisposeAsync();
            }
        }
    }

    public HttpClient Client() => new() { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>Posts an AgentToServer with a tenant key; returns the HTTP answer and, when it parses, the ServerToAgent.</summary>
    public async Task<(HttpResponseMessage Response, ServerToAgent? Reply)> SendAsync(AgentToServer message, string? key, bool gzip = false, Action<HttpRequestMessage>? tweak = null)
    {
        byte[] body = message.ToByteArray();
        if (gzip)
        {
            body = Gzip(body);
        }

        return await PostAsync(body, key, gzip, tweak);
    }

    public async Task<(HttpResponseMessage Response, ServerToAgent? Reply)> PostAsync(byte[] body, string? key, bool gzip = false, Action<HttpRequestMessage>? tweak = null)
    {
        using var client = Client();
        using var request = new HttpRequestMessage(HttpMethod.Post, OpAmpUri) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        if (gzip)
        {
            request.Content.Headers.ContentEncoding.Add("gzip");
        }

        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        tweak?.Invoke(request);
        var response = await client.SendAsync(request);
        byte[] answer = await response.Content.ReadAsByteArrayAsync();
        ServerToAgent? reply = null;
        try
        {
            reply = ServerToAgent.Parser.ParseFrom(answer);
        }
        catch (InvalidProtocolBufferException)
        {
        }

        return (response, reply);
    }

    public static byte[] Gzip(byte[] data)
    {
        var output = new MemoryStream();
        using (var gz = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gz.Write(data);
        }

        return output.ToArray();
    }

    public static byte[] NewUid() => Guid.CreateVersion7().ToByteArray(bigEndian: true);

    public static string Hex(byte[] uid) => Convert.ToHexStringLower(uid);

    public const ulong Capabilities = (ulong)(AgentCapabilities.ReportsStatus | AgentCapabilities.AcceptsRemoteConfig
        | AgentCapabilities.ReportsRemoteConfig | AgentCapabilities.ReportsEffectiveConfig | AgentCapabilities.ReportsHealth);

    /// <summary>A first (full-state) message: description and capabilities.</summary>
    public static AgentToServer FullState(byte[] uid, ulong sequence, string serviceName = "checkout", ulong capabilities = Capabilities)
    {
        var message = new AgentToServer
        {
            InstanceUid = ByteString.CopyFrom(uid),
            SequenceNum = sequence,
            Capabilities = capabilities,
            AgentDescription = new AgentDescription(),
        };
        message.AgentDescription.IdentifyingAttributes.Add(Attribute("service.name", serviceName));
        message.AgentDescription.IdentifyingAttributes.Add(Attribute("service.instance.id", Hex(uid)));
        message.AgentDescription.NonIdentifyingAttributes.Add(Attribute("host.name", "host-" + Hex(uid)[..6]));
        return message;
    }

    public static AgentToServer Heartbeat(byte[] uid, ulong sequence, ulong capabilities = Capabilities) =>
        new() { InstanceUid = ByteString.CopyFrom(uid), SequenceNum = sequence, Capabilities = capabilities };

    public static KeyValue Attribute(string key, string value) => new() { Key = key, Value = new AnyValue { StringValue = value } };

    public async ValueTask DisposeAsync()
    {
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            await App.StopAsync(cts.Token);
        }

        await App.DisposeAsync();
    }
}
