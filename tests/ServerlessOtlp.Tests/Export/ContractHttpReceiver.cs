using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ServerlessOtlp.Tests.Export;

/// <summary>
/// A backend for the exporter contract over plain HTTP (Loki's push API, Prometheus remote write):
/// each request is decoded to the test ids it carries, then accepted, refused for now (503), refused
/// for good (400) or answered late, as <see cref="ReceiverMode"/> and a seeded draw decide — the same
/// verdicts <see cref="OtlpTestReceiver"/> gives OTLP exporters.
/// </summary>
public sealed class ContractHttpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Func<byte[], IReadOnlyList<string>> _ids;
    private readonly Random _random;
    private readonly object _gate = new();
    private int _requests;

    private ContractHttpReceiver(WebApplication app, Func<byte[], IReadOnlyList<string>> ids, int seed)
    {
        _app = app;
        _ids = ids;
        _random = new Random(seed);
    }

    public Uri Uri { get; private set; } = null!;

    public ReceiverMode Mode { get; set; }

    /// <summary>Share of requests failed in the random modes.</summary>
    public double FailureRate { get; set; } = 0.3;

    /// <summary>Longest extra latency in <see cref="ReceiverMode.Slow"/>.</summary>
    public TimeSpan MaxLatency { get; set; } = TimeSpan.FromMilliseconds(150);

    /// <summary>Accepted ids with how often each arrived (more than once = a duplicate).</summary>
    public ConcurrentDictionary<string, int> Received { get; } = new();

    public ConcurrentDictionary<string, byte> PermanentlyRejected { get; } = new();

    public int Requests => _requests;

    /// <param name="ids">The test ids a request body carries (after the backend's own decoding).</param>
    public static async Task<ContractHttpReceiver> StartAsync(Func<byte[], IReadOnlyList<string>> ids, int seed)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var receiver = new ContractHttpReceiver(app, ids, seed);
        app.Run(receiver.HandleAsync);
        await app.StartAsync();
        receiver.Uri = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            await _app.StopAsync(cts.Token);
        }

        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
        var ids = _ids(buffer.ToArray());
        Interlocked.Increment(ref _requests);
        double roll;
        int latencyMs;
        lock (_gate)
        {
            roll = _random.NextDouble();
            latencyMs = _random.Next((int)MaxLatency.TotalMilliseconds + 1);
        }

        switch (Mode)
        {
            case ReceiverMode.RandomTransient when roll < FailureRate:
                context.Response.StatusCode = 503;
                context.Response.Headers.RetryAfter = "0";
                return;
            case ReceiverMode.RandomPermanent when roll < FailureRate:
                foreach (var id in ids)
                {
                    PermanentlyRejected[id] = 0;
                }

                // Not Prometheus' out-of-order wording: a refusal of the whole request.
                context.Response.StatusCode = 400;
                await context.Response.WriteAsync("bad request: refused by the contract test");
                return;
            case ReceiverMode.Slow:
                // Taken on arrival, answered late: a client that gives up first sends it again (a duplicate).
                Record(ids);
                await Task.Delay(latencyMs, CancellationToken.None);
                context.Response.StatusCode = 204;
                return;
        }

        Record(ids);
        context.Response.StatusCode = 204;
    }

    private void Record(IReadOnlyList<string> ids)
    {
        foreach (var id in ids)
        {
            Received.AddOrUpdate(id, 1, (_, n) => n + 1);
        }
    }
}
