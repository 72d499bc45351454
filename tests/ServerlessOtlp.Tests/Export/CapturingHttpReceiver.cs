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

/// <summary>One request a <see cref="CapturingHttpReceiver"/> took.</summary>
public sealed record CapturedRequest(string Method, string Path, IReadOnlyDictionary<string, string> Headers, byte[] Body);

/// <summary>
/// Kestrel on a loopback port answering every request with <see cref="Answer"/> and keeping it:
/// a stand-in backend (Loki's push API, an OTLP/HTTP endpoint the SDK exports to, a failing
/// remote-write receiver).
/// </summary>
public sealed class CapturingHttpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;

    private CapturingHttpReceiver(WebApplication app) => _app = app;

    public Uri Uri { get; private set; } = null!;

    public ConcurrentQueue<CapturedRequest> Requests { get; } = new();

    /// <summary>Status, body and extra headers of the answer to a request.</summary>
    public Func<CapturedRequest, (int Status, string Body, IReadOnlyDictionary<string, string>? Headers)> Answer { get; set; } = _ => (204, "", null);

    public static async Task<CapturingHttpReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var receiver = new CapturingHttpReceiver(app);
        app.Run(async context =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var (name, value) in context.Request.Headers)
            {
                headers[name] = value.ToString();
            }

            var captured = new CapturedRequest(context.Request.Method, context.Request.Path, headers, body.ToArray());
            receiver.Requests.Enqueue(captured);
            var (status, text, extra) = receiver.Answer(captured);
            context.Response.StatusCode = status;
            foreach (var (name, value) in extra ?? new Dictionary<string, string>())
            {
                context.Response.Headers[name] = value;
            }

            if (text.Length > 0)
            {
                await context.Response.WriteAsync(text);
            }
        });
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver.Uri = new Uri(address);
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
