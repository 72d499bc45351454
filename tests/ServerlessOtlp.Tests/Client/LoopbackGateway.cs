using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Proto.Collector.Trace.V1;
using ServerlessOtlp.Gateway;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Client;

/// <summary>
/// The product gateway on fixed loopback ports, so that it can be stopped and started again
/// where the client expects it; its log outlives restarts.
/// </summary>
public sealed class LoopbackGateway : IAsyncDisposable
{
    public const string Key = "client-key-0123456789abcdef";

    private readonly TenantFile _tenants;

    private readonly GatewayOptions _options = new()
    {
        BindAddress = "127.0.0.1",
        GrpcPort = TestPorts.Next(),
        HttpPort = TestPorts.Next(),
        ManagementPort = TestPorts.Next(),
        NodeId = "gw-client-test",
        FlushDelay = TimeSpan.FromMilliseconds(1),
    };

    private WebApplication? _app;

    internal MemoryLog Log { get; } = new(4);

    public Uri GrpcUri => new($"http://127.0.0.1:{_options.GrpcPort}");

    public bool Running => _app != null;

    private readonly TimeProvider? _time;

    /// <param name="itemsPerSecond">The tenant's rate limit (the gateway answers RESOURCE_EXHAUSTED with RetryInfo past it); null: none.</param>
    /// <param name="time">The clock of the tenant's rate limit; the system clock when null.</param>
    public LoopbackGateway(long? itemsPerSecond = null, TimeProvider? time = null)
    {
        _tenants = new() { Tenants = [new TenantConfig { Id = "acme", ApiKeys = [Key], Limits = itemsPerSecond is { } l ? new TenantLimits { ItemsPerSecond = l } : null }] };
        _time = time;
    }

    public static async Task<LoopbackGateway> StartNewAsync(long? itemsPerSecond = null, TimeProvider? time = null)
    {
        var gateway = new LoopbackGateway(itemsPerSecond, time);
        await gateway.StartAsync();
        return gateway;
    }

    public async Task StartAsync()
    {
        for (int attempt = 0; ; attempt++)
        {
            var app = GatewayHost.Build(_options, new GatewayDependencies(Log, new InMemoryTenantDirectory(_tenants), null), configure: b =>
            {
                b.Logging.ClearProviders();
                if (_time != null)
                {
                    b.Services.AddSingleton(new ServerlessOtlp.Gateway.Ingest.TenantRateLimiter(_time));
                }
            });
            try
            {
                await app.StartAsync();
                _app = app;
                return;
            }
            catch (IOException) when (attempt < 50)
            {
                // The port of the previous run may take a moment to be free again.
                await app.DisposeAsync();
                await Task.Delay(100);
            }
        }
    }

    public async Task StopAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
            {
                await app.StopAsync(cts.Token);
            }

            await app.DisposeAsync();
        }
    }

    /// <summary>The "uid" attribute of every span this gateway accepted (a uid twice when it was sent twice).</summary>
    public List<string> SpanUids(out List<string> serviceNames)
    {
        var uids = new List<string>();
        serviceNames = [];
        for (int p = 0; p < Log.PartitionCount; p++)
        {
            foreach (var (props, body) in Log.Snapshot(p))
            {
                if (props.Signal != Signal.Traces)
                {
                    continue;
                }

                foreach (var rs in ExportTraceServiceRequest.Parser.ParseFrom(body).ResourceSpans)
                {
                    serviceNames.Add(rs.Resource.Attributes.FirstOrDefault(a => a.Key == "service.name")?.Value.StringValue ?? "");
                    foreach (var ss in rs.ScopeSpans)
                    {
                        foreach (var span in ss.Spans)
                        {
                            uids.Add(span.Attributes.FirstOrDefault(a => a.Key == "uid")?.Value.StringValue ?? "");
                        }
                    }
                }
            }
        }

        return uids;
    }

    public List<string> SpanUids() => SpanUids(out _);

    public ValueTask DisposeAsync() => new(StopAsync());
}
