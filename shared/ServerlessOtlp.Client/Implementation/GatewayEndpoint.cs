using System.Diagnostics;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Simmy;
using Polly.Simmy.Latency;

namespace ServerlessOtlp.Client.Implementation;

/// <summary>
/// One gateway endpoint: the SDK's own OTLP exporter for it, behind a resilience pipeline
/// (retry → circuit breaker → injected latency, innermost), and its measured latency.
/// </summary>
internal sealed class GatewayEndpoint<T> : IDisposable
    where T : class
{
    private readonly ResiliencePipeline<ExportResult> _pipeline;
    private readonly CircuitBreakerStateProvider _circuit = new();
    private readonly double _alpha;
    private readonly Lock _latencyLock = new();
    private double _latencyMs = double.NaN;
    private long _successes;
    private const double MaxSampleFactor = 4;

    public GatewayEndpoint(Uri uri, ServerlessOtlpExporterOptions options, Func<OtlpExporterOptions, BaseExporter<T>> createExporter, TimeProvider timeProvider)
    {
        Uri = uri;
        Name = uri.ToString();
        _alpha = options.LatencyEwmaAlpha;
        var exporterOptions = new OtlpExporterOptions();
        options.ConfigureEndpointExporter?.Invoke(exporterOptions);
        exporterOptions.Endpoint = uri;
        exporterOptions.Protocol = OtlpExportProtocol.Grpc;
        exporterOptions.TimeoutMilliseconds = (int)Math.Clamp(options.AttemptTimeout.TotalMilliseconds, 1, int.MaxValue);
        if (!string.IsNullOrEmpty(options.ApiKey))
        {
            exporterOptions.Headers = string.IsNullOrEmpty(exporterOptions.Headers)
                ? $"{options.ApiKeyHeader}={options.ApiKey}"
                : $"{exporterOptions.Headers},{options.ApiKeyHeader}={options.ApiKey}";
        }

        Exporter = createExporter(exporterOptions);
        _pipeline = BuildPipeline(options, _circuit, InjectedLatency(options, uri), timeProvider);
    }

    public Uri Uri { get; }

    public string Name { get; }

    public BaseExporter<T> Exporter { get; }

    /// <summary>Moving average of successful export durations in milliseconds; NaN until the second success (the first is warm-up).</summary>
    public double LatencyMs
    {
        get
        {
            lock (_latencyLock)
            {
                return _latencyMs;
            }
        }
    }

    public EndpointHealth Health => _circuit.CircuitState switch
    {
        CircuitState.Closed => EndpointHealth.Healthy,
        CircuitState.HalfOpen => EndpointHealth.Recovering,
        _ => EndpointHealth.Broken,
    };

    /// <summary>Exports the first <paramref name="count"/> items through the pipeline; on success <paramref name="durationMs"/> is the time taken, retries included.</summary>
    public AttemptOutcome Export(T[] items, int count, out double durationMs)
    {
        durationMs = 0;
        long started = Stopwatch.GetTimestamp();
        try
        {
            var result = _pipeline.Execute(
                static state =>
                {
                    // A fresh batch per attempt: a batch's enumeration is not meant to be repeated.
                    var batch = new Batch<T>(state.Items, state.Count);
                    return state.Exporter.Export(batch);
                },
                (Exporter, Items: items, Count: count));
            if (result != ExportResult.Success)
            {
                return AttemptOutcome.Failure;
            }

            double ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            lock (_latencyLock)
            {
                // The first success pays for connecting (HTTP/2 handshake, JIT): an outlier that would
                // keep a fast endpoint looking slow for many exports. The average starts at the second.
                // One sample may at most quadruple the average: a single GC pause or scheduling stall on the
                // preferred endpoint must not flip the preference, while a lasting slowdown still shows
                // within a few exports (the average grows geometrically while it persists).
                if (++_successes > 1)
                {
                    _latencyMs = double.IsNaN(_latencyMs) ? ms : (_alpha * Math.Min(ms, MaxSampleFactor * _latencyMs)) + ((1 - _alpha) * _latencyMs);
                }
            }

            durationMs = ms;
            return AttemptOutcome.Success;
        }
        catch (BrokenCircuitException)
        {
            return AttemptOutcome.Refused;
        }
        catch (Exception)
        {
            // The SDK exporters catch their own failures; anything else is a failure of this endpoint.
            return AttemptOutcome.Failure;
        }
    }

    public void Dispose() => Exporter.Dispose();

    private static TimeSpan InjectedLatency(ServerlessOtlpExporterOptions options, Uri uri) =>
        options.InjectedLatency.TryGetValue(uri.ToString(), out var d) || options.InjectedLatency.TryGetValue(uri.OriginalString, out d) ? d : TimeSpan.Zero;

    private static ResiliencePipeline<ExportResult> BuildPipeline(ServerlessOtlpExporterOptions options, CircuitBreakerStateProvider circuit, TimeSpan injectedLatency, TimeProvider timeProvider)
    {
        // The SDK exporter reports Success or Failure only: the gRPC status (retryable or not) and
        // RetryInfo stay inside it, so every failure counts as transient here (see the README).
        var builder = new ResiliencePipelineBuilder<ExportResult> { TimeProvider = timeProvider };
        if (options.Retry.MaxRetryAttempts > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<ExportResult>
            {
                ShouldHandle = static args => ValueTask.FromResult(args.Outcome.Exception is null
                    ? args.Outcome.Result == ExportResult.Failure
                    : args.Outcome.Exception is not BrokenCircuitException),
                MaxRetryAttempts = options.Retry.MaxRetryAttempts,
                Delay = options.Retry.Delay,
                MaxDelay = options.Retry.MaxDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
            });
        }

        builder.AddCircuitBreaker(new CircuitBreakerStrategyOptions<ExportResult>
        {
            ShouldHandle = static args => ValueTask.FromResult(args.Outcome.Exception is not null || args.Outcome.Result == ExportResult.Failure),
            FailureRatio = options.CircuitBreaker.FailureRatio,
            MinimumThroughput = options.CircuitBreaker.MinimumThroughput,
            SamplingDuration = options.CircuitBreaker.SamplingDuration,
            BreakDuration = options.CircuitBreaker.BreakDuration,
            StateProvider = circuit,
        });

        if (injectedLatency > TimeSpan.Zero)
        {
            builder.AddChaosLatency(new ChaosLatencyStrategyOptions { Latency = injectedLatency, InjectionRate = 1.0 });
        }

        return builder.Build();
    }
}

internal enum AttemptOutcome
{
    Success,
    Failure,

    /// <summary>The circuit was open: nothing was sent.</summary>
    Refused,
}
