using System.Collections.Concurrent;
using System.Diagnostics;
using Grpc.Core;
using Grpc.Net.Client;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using OpenTelemetry.Proto.Collector.Trace.V1;
using ServerlessOtlp.Otlp;

namespace ServerlessOtlp.Cli.Load;

/// <summary>How a load run is shaped.</summary>
/// <param name="Rate">Items per second to pace to; null sends as fast as the gateway accepts.</param>
internal sealed record LoadSettings(
    Uri Endpoint,
    string Key,
    Signal Signal,
    double? Rate,
    TimeSpan Duration,
    int ItemsPerRequest,
    int Connections,
    int InFlightPerConnection = LoadGenerator.DefaultInFlightPerConnection);

/// <summary>Counters while a run is going, for the progress display.</summary>
internal readonly record struct LoadProgress(TimeSpan Elapsed, long Sent, long Accepted, long Refused);

/// <summary>
/// OTLP/gRPC load: one <see cref="GrpcChannel"/> (one HTTP/2 connection) per connection, a few
/// exports in flight on each, the pre-serialized requests of <see cref="LoadRequests"/> sent
/// round-robin through a raw byte[] method, so no encoding happens while measuring.
/// </summary>
internal sealed class LoadGenerator
{
    /// <summary>Exports in flight per connection: enough to hide a round trip, few enough to measure latency honestly.</summary>
    public const int DefaultInFlightPerConnection = 4;

    // After a retryable refusal a worker waits this long (the gateway suggests about 1 s; a short pause keeps pressure on).
    private static readonly TimeSpan RefusalPause = TimeSpan.FromMilliseconds(100);

    // A single export taking longer than this counts as DeadlineExceeded.
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    private static readonly Marshaller<byte[]> Raw = Marshallers.Create(static b => b, static b => b);

    private readonly LoadSettings _settings;
    private readonly ConcurrentDictionary<string, long> _refused = new(StringComparer.Ordinal);
    private long _sent;
    private long _accepted;
    private long _rejected;
    private long _refusedItems;
    private long _requests;
    private long _scheduledItems;
    private long _next;
    private readonly Stopwatch _clock = new();
    private long[] _acceptedBySecond = [];
    private long[] _refusedBySecond = [];

    public LoadGenerator(LoadSettings settings) => _settings = settings;

    public LoadProgress Progress => new(_clock.Elapsed, Interlocked.Read(ref _sent), Interlocked.Read(ref _accepted), Interlocked.Read(ref _refusedItems));

    public static Method<byte[], byte[]> ExportMethod(Signal signal) => new(
        MethodType.Unary,
        signal switch
        {
            Signal.Traces => "opentelemetry.proto.collector.trace.v1.TraceService",
            Signal.Metrics => "opentelemetry.proto.collector.metrics.v1.MetricsService",
            _ => "opentelemetry.proto.collector.logs.v1.LogsService",
        },
        "Export",
        Raw,
        Raw);

    public async Task<LoadReport> RunAsync(CancellationToken cancellationToken = default)
    {
        var pool = LoadRequests.Build(_settings.Signal, _settings.ItemsPerRequest);
        // Per-second outcome counts (by completion time; calls may end up to CallTimeout after the deadline).
        _acceptedBySecond = new long[(int)Math.Ceiling((_settings.Duration + CallTimeout).TotalSeconds) + 1];
        _refusedBySecond = new long[_acceptedBySecond.Length];
        var method = ExportMethod(_settings.Signal);
        var headers = new Metadata { { "x-api-key", _settings.Key } };
        var channels = Enumerable.Range(0, Math.Max(1, _settings.Connections)).Select(_ => GrpcChannel.ForAddress(_settings.Endpoint, new GrpcChannelOptions
        {
            // Its own handler per channel: one TCP connection each, as separate SDK processes would have.
            HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = false, PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan },
            MaxSendMessageSize = null,
            MaxReceiveMessageSize = null,
        })).ToList();
        try
        {
            // Connect before the clock starts.
            await Task.WhenAll(channels.Select(c => c.ConnectAsync(cancellationToken)));
            _clock.Start();
            var deadline = _settings.Duration;
            var workers = new List<Task<List<double>>>();
            foreach (var channel in channels)
            {
                var invoker = channel.CreateCallInvoker();
                for (int i = 0; i < Math.Max(1, _settings.InFlightPerConnection); i++)
                {
                    workers.Add(Task.Run(() => WorkerAsync(invoker, method, headers, pool, deadline, cancellationToken), CancellationToken.None));
                }
            }

            var latencies = (await Task.WhenAll(workers)).SelectMany(l => l).ToList();
            _clock.Stop();
            var elapsed = _clock.Elapsed;
            return new LoadReport(
                _sent,
                _accepted,
                _rejected,
                new Dictionary<string, long>(_refused, StringComparer.Ordinal),
                _accepted / Math.Max(0.001, elapsed.TotalSeconds),
                _requests,
                elapsed,
                LatencySummary.From(latencies))
            {
                Timeline = Enumerable.Range(0, Math.Min(_acceptedBySecond.Length, (int)Math.Ceiling(elapsed.TotalSeconds)))
                    .Select(i => new LoadSecond(i, _acceptedBySecond[i], _refusedBySecond[i]))
                    .ToList(),
            };
        }
        finally
        {
            foreach (var channel in channels)
            {
                channel.Dispose();
            }
        }
    }

    private async Task<List<double>> WorkerAsync(CallInvoker invoker, Method<byte[], byte[]> method, Metadata headers, byte[][] pool, TimeSpan deadline, CancellationToken cancellationToken)
    {
        var latencies = new List<double>(1024);
        int items = _settings.ItemsPerRequest;
        while (!cancellationToken.IsCancellationRequested && _clock.Elapsed < deadline)
        {
            if (_settings.Rate is double rate)
            {
                // Each request takes the next slot of the schedule: slot k is due at k items / rate.
                long slot = Interlocked.Add(ref _scheduledItems, items) - items;
                var due = TimeSpan.FromSeconds(slot / rate);
                if (due >= deadline)
                {
                    break;
                }

                var wait = due - _clock.Elapsed;
                if (wait > TimeSpan.Zero)
                {
                    try
                    {
                        await Task.Delay(wait, cancellationToken);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }
            }

            byte[] request = pool[(int)((ulong)Interlocked.Increment(ref _next) % (ulong)pool.Length)];
            long started = Stopwatch.GetTimestamp();
            try
            {
                var response = await invoker.AsyncUnaryCall(method, null, new CallOptions(headers, DateTime.UtcNow + CallTimeout, cancellationToken), request);
                latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                long rejected = Math.Clamp(RejectedItems(response), 0, items);
                Interlocked.Add(ref _sent, items);
                Interlocked.Add(ref _accepted, items - rejected);
                Interlocked.Add(ref _acceptedBySecond[Second()], items - rejected);
                Interlocked.Add(ref _rejected, rejected);
                Interlocked.Increment(ref _requests);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (RpcException ex)
            {
                latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                Interlocked.Add(ref _sent, items);
                Interlocked.Add(ref _refusedItems, items);
                Interlocked.Add(ref _refusedBySecond[Second()], items);
                Interlocked.Increment(ref _requests);
                _refused.AddOrUpdate(ex.StatusCode.ToString(), items, (_, n) => n + items);
                if (ex.StatusCode is StatusCode.Unavailable or StatusCode.ResourceExhausted)
                {
                    try
                    {
                        await Task.Delay(RefusalPause, cancellationToken);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }
            }
        }

        return latencies;
    }

    private int Second() => Math.Min((int)_clock.Elapsed.TotalSeconds, _acceptedBySecond.Length - 1);

    private long RejectedItems(byte[] response) => _settings.Signal switch
    {
        Signal.Traces => ExportTraceServiceResponse.Parser.ParseFrom(response).PartialSuccess?.RejectedSpans ?? 0,
        Signal.Metrics => ExportMetricsServiceResponse.Parser.ParseFrom(response).PartialSuccess?.RejectedDataPoints ?? 0,
        _ => ExportLogsServiceResponse.Parser.ParseFrom(response).PartialSuccess?.RejectedLogRecords ?? 0,
    };
}
