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
/// each request is decoded to the test ids it carries and answered by <see cref="BackendVerdicts"/>,
/// as <see cref="OtlpTestReceiver"/> answers OTLP exporters: 204, 503, 400, or 204 late.
/// </summary>
public sealed class ContractHttpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Func<byte[], IReadOnlyList<string>> _ids;
    private readonly BackendVerdicts _verdicts;

    private ContractHttpReceiver(WebApplication app, Func<byte[], IReadOnlyList<string>> ids, int seed)
    {
        _app = app;
        _ids = ids;
        _verdicts = new BackendVerdicts(seed);
    }

    public Uri Uri { get; private set; } = null!;

    public ReceiverMode Mode { get => _verdicts.Mode; set => _verdicts.Mode = value; }

    /// <summary>Accepted ids with how often each arrived (more than once = a duplicate).</summary>
    public ConcurrentDictionary<string, int> Received => _verdicts.Received;

    public ConcurrentDictionary<string, byte> PermanentlyRejected => _verdicts.PermanentlyRejected;

    public int Requests => _verdicts.Requests;

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
        switch (await _verdicts.DecideAsync(_ids(buffer.ToArray())))
        {
            case BackendVerdict.Transient:
                context.Response.StatusCode = 503;
                context.Response.Headers.RetryAfter = "0";
                return;
            case BackendVerdict.Permanent:
                // Not Prometheus' out-of-order wording: a refusal of the whole request.
                context.Response.StatusCode = 400;
                await context.Response.WriteAsync("bad request: refused by the contract test");
                return;
            default:
                context.Response.StatusCode = 204;
                return;
        }
    }
}
