using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using ServerlessOtlp.Gateway;
using ServerlessOtlp.Log;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Reliability;

/// <summary>Every log entry of a host, for the "no unhandled exception" and "no key in the logs" checks.</summary>
public sealed class CapturingLoggerProvider : ILoggerProvider
{
    public sealed record Entry(LogLevel Level, string Category, string Message, Exception? Exception)
    {
        public override string ToString() => $"{Level} {Category}: {Message}{(Exception != null ? " | " + Exception : "")}";
    }

    private readonly ConcurrentQueue<Entry> _entries = new();

    public IReadOnlyList<Entry> Entries => [.. _entries];

    /// <summary>Everything logged, as one text (messages and exceptions).</summary>
    public string Text => string.Join("\n", _entries);

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            // The state's properties too: a key could hide in a structured value the message omits.
            string props = state is IEnumerable<KeyValuePair<string, object?>> kvs ? string.Join(" ", kvs.Select(kv => $"{kv.Key}={kv.Value}")) : "";
            owner._entries.Enqueue(new Entry(logLevel, category, formatter(state, exception) + (props.Length > 0 ? " {" + props + "}" : ""), exception));
        }
    }
}

/// <summary>The real gateway (Kestrel) in this process on random ports, over any log and tenant directory, with every log entry captured.</summary>
internal sealed class InProcessGateway : IAsyncDisposable
{
    private InProcessGateway(WebApplication app, GatewayOptions options, CapturingLoggerProvider logs)
    {
        App = app;
        Options = options;
        Logs = logs;
    }

    public WebApplication App { get; }

    public GatewayOptions Options { get; }

    public CapturingLoggerProvider Logs { get; }

    public Uri GrpcUri => new($"http://127.0.0.1:{Options.GrpcPort}");

    public Uri HttpUri => new($"http://127.0.0.1:{Options.HttpPort}");

    public static async Task<InProcessGateway> StartAsync(IPartitionedLog log, ITenantDirectory tenants, Action<GatewayOptions>? configure = null)
    {
        await log.OpenAsync();
        for (int attempt = 0; ; attempt++)
        {
            var options = new GatewayOptions
            {
                BindAddress = "127.0.0.1",
                GrpcPort = TestPorts.Next(),
                HttpPort = TestPorts.Next(),
                ManagementPort = TestPorts.Next(),
                NodeId = "gw-reliability",
                FlushDelay = TimeSpan.FromMilliseconds(1),
            };
            configure?.Invoke(options);
            var logs = new CapturingLoggerProvider();
            var app = GatewayHost.Build(options, new GatewayDependencies(log, tenants, null), configure: b =>
            {
                b.Logging.ClearProviders();
                b.Logging.SetMinimumLevel(LogLevel.Debug);
                b.Logging.AddProvider(logs);
            });
            try
            {
                await app.StartAsync();
                return new InProcessGateway(app, options, logs);
            }
            catch (IOException) when (attempt < 3)
            {
                await app.DisposeAsync();
            }
        }
    }

    /// <summary>Error-level (or worse) entries: an unhandled exception in a handler shows up here.</summary>
    public IReadOnlyList<CapturingLoggerProvider.Entry> Errors => Logs.Entries.Where(e => e.Level >= LogLevel.Error).ToList();

    public async ValueTask DisposeAsync()
    {
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            await App.StopAsync(cts.Token);
        }

        await App.DisposeAsync();
    }
}
