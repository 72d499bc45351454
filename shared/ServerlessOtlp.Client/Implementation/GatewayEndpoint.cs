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
/// (retry → circuit breaker → injected latency, innermost), and its measured latency. The SDK
/// exporter's HttpClient carries a <see cref="ResponseObserver"/>, so the pipeline sees the
/// gateway's gRPC status and RetryInfo, not just the SDK's Success/Failure.
/// </summary>
internal sealed class GatewayEndpoint<T> : IDisposable
    where T : class
{
    private readonly ResiliencePipeline<Attempt> _pipeline;
    private readonly CircuitBreakerStateProvider _circuit = new();
    private readonly TimeProvider _time;
    private long _openUntilTicks = long.MaxValue;
    private readonly double _alpha;
    private readonly Lock _latencyLock = new();
    private double _latencyMs = double.NaN;
    private long _successes;
    private long _retries;
    private long _lastRetryDelayTicks = -1;
    private const double MaxSampleFactor = 4;

    public GatewayEndpoint(ServerlessOtlpGatewayOptions gateway, ServerlessOtlpExporterOptions options, Func<OtlpExporterOptions, BaseExporter<T>> createExporter)
    {
        var uri = gateway.Endpoint ?? throw new ArgumentException("a gateway without an Endpoint", nameof(gateway));
        Uri = uri;
        Name = uri.ToString();
        Region = gateway.Region;
        Zone = gateway.Zone;
        Proximity = EndpointOrder.ProximityOf(options.Region, options.Zone, gateway.Region, gateway.Zone);
        _time = options.TimeProvider;
        _alpha = options.LatencyEwmaAlpha;
        var exporterOptions = new OtlpExporterOptions();
        options.ConfigureEndpointExporter?.Invoke(exporterOptions);
        exporterOptions.Endpoint = uri;
        exporterOptions.Protocol = OtlpExportProtocol.Grpc;
        exporterOptions.TimeoutMilliseconds = (int)Math.Clamp(options.AttemptTimeout.TotalMilliseconds, 1, int.MaxValue);
        // The SDK sends OTLP/gRPC through this HttpClient too (OpenTelemetry ≥ 1.11 has its own gRPC client on HttpClient).
        exporterOptions.HttpClientFactory = () => new HttpClient(new ResponseObserver(new SocketsHttpHandler()))
        {
            Timeout = TimeSpan.FromMilliseconds(exporterOptions.TimeoutMilliseconds),
        };
        if (!string.IsNullOrEmpty(options.ApiKey))
        {
            exporterOptions.Headers = string.IsNullOrEmpty(exporterOptions.Headers)
                ? $"{options.ApiKeyHeader}={options.ApiKey}"
                : $"{exporterOptions.Headers},{options.ApiKeyHeader}={options.ApiKey}";
        }

        Exporter = createExporter(exporterOptions);
        _pipeline = BuildPipeline(options, _circuit, InjectedLatency(options, uri), _time, this);
    }

    public Uri Uri { get; }

    public string Name { get; }

    public string? Region { get; }

    public string? Zone { get; }

    public Proximity Proximity { get; }

    /// <summary>The circuit as Polly holds it (closed, open, half-open, isolated).</summary>
    public CircuitState Circuit => _circuit.CircuitState;

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

    /// <summary>Retries made on this endpoint (after a retryable answer, or a throttle with RetryInfo).</summary>
    public long Retries => Interlocked.Read(ref _retries);

    /// <summary>The last RetryInfo delay waited before a retry; null when none was given yet.</summary>
    public TimeSpan? LastRetryDelay => Interlocked.Read(ref _lastRetryDelayTicks) is long t and >= 0 ? TimeSpan.FromTicks(t) : null;

    /// <summary>
    /// Polly moves an open circuit to half-open only when an attempt arrives after the break, so an
    /// open circuit whose break has passed counts as recovering here: the order then gives it that
    /// trial (before another region), which is how traffic comes back.
    /// </summary>
    public EndpointHealth Health => _circuit.CircuitState switch
    {
        CircuitState.Closed => EndpointHealth.Healthy,
        CircuitState.HalfOpen => EndpointHealth.Recovering,
        CircuitState.Open when _time.GetUtcNow().UtcTicks >= Interlocked.Read(ref _openUntilTicks) => EndpointHealth.Recovering,
        _ => EndpointHealth.Broken,
    };

    /// <summary>
    /// Exports the first <paramref name="count"/> items through the pipeline; on success <paramref name="durationMs"/>
    /// is the time taken, retries included. <paramref name="answer"/> is the gateway's last answer.
    /// </summary>
    public AttemptOutcome Export(T[] items, int count, out double durationMs, out GatewayAnswer answer)
    {
        durationMs = 0;
        answer = GatewayAnswer.NoAnswer;
        long started = _time.GetTimestamp();
        try
        {
            var attempt = _pipeline.Execute(
                static state =>
                {
                    var record = ResponseObserver.Begin();
                    try
                    {
                        // A fresh batch per attempt: a batch's enumeration is not meant to be repeated.
                        var result = state.Exporter.Export(new Batch<T>(state.Items, state.Count));
                        var seen = record.Answer;
                        return new Attempt(
                            result,
                            result == ExportResult.Success ? new GatewayAnswer(AnswerKind.Success, 0, null)
                            : seen is { Kind: not AnswerKind.Success } failed ? failed
                            : GatewayAnswer.NoAnswer); // the SDK failed without a refusal on the wire: treat as no answer
                    }
                    finally
                    {
                        ResponseObserver.End();
                    }
                },
                (Exporter, Items: items, Count: count));
            answer = attempt.Answer;
            if (attempt.Result != ExportResult.Success)
            {
                return attempt.Answer.Kind switch
                {
                    AnswerKind.Rejected => AttemptOutcome.Rejected,
                    AnswerKind.Throttled => AttemptOutcome.Throttled,
                    _ => AttemptOutcome.Failure,
                };
            }

            double ms = _time.GetElapsedTime(started).TotalMilliseconds;
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

    /// <summary>
    /// Whether an answer is worth another try on this endpoint: retryable codes and throttling with
    /// RetryInfo, never a refusal for good, never a wait longer than one export attempt may take.
    /// </summary>
    internal static bool ShouldRetry(GatewayAnswer answer, TimeSpan maxWait) =>
        answer.Kind is AnswerKind.Retryable or AnswerKind.Throttled && (answer.RetryDelay is not { } wait || wait <= maxWait);

    private static ResiliencePipeline<Attempt> BuildPipeline(ServerlessOtlpExporterOptions options, CircuitBreakerStateProvider circuit, TimeSpan injectedLatency, TimeProvider timeProvider, GatewayEndpoint<T> owner)
    {
        var builder = new ResiliencePipelineBuilder<Attempt> { TimeProvider = timeProvider };
        var maxWait = options.AttemptTimeout;
        if (options.Retry.MaxRetryAttempts > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<Attempt>
            {
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is null
                    ? args.Outcome.Result.Result != ExportResult.Success && ShouldRetry(args.Outcome.Result.Answer, maxWait)
                    : args.Outcome.Exception is not BrokenCircuitException),
                MaxRetryAttempts = options.Retry.MaxRetryAttempts,
                Delay = options.Retry.Delay,
                MaxDelay = options.Retry.MaxDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                // The gateway's RetryInfo, exactly (no jitter): it knows when it can take more.
                DelayGenerator = static args => ValueTask.FromResult(args.Outcome.Exception is null ? args.Outcome.Result.Answer.RetryDelay : null),
                OnRetry = args =>
                {
                    Interlocked.Increment(ref owner._retries);
                    if (args.Outcome.Exception is null && args.Outcome.Result.Answer.RetryDelay is { } delay)
                    {
                        Interlocked.Exchange(ref owner._lastRetryDelayTicks, delay.Ticks);
                    }

                    return default;
                },
            });
        }

        builder.AddCircuitBreaker(new CircuitBreakerStrategyOptions<Attempt>
        {
            // Only the endpoint's own failures open its circuit: a throttled tenant or a refused key is not an outage.
            ShouldHandle = static args => ValueTask.FromResult(args.Outcome.Exception is not null
                || (args.Outcome.Result.Result != ExportResult.Success && args.Outcome.Result.Answer.Kind == AnswerKind.Retryable)),
            FailureRatio = options.CircuitBreaker.FailureRatio,
            MinimumThroughput = options.CircuitBreaker.MinimumThroughput,
            SamplingDuration = options.CircuitBreaker.SamplingDuration,
            BreakDuration = options.CircuitBreaker.BreakDuration,
            StateProvider = circuit,
            OnOpened = args =>
            {
                Interlocked.Exchange(ref owner._openUntilTicks, (timeProvider.GetUtcNow() + args.BreakDuration).UtcTicks);
                return default;
            },
            OnClosed = _ =>
            {
                Interlocked.Exchange(ref owner._openUntilTicks, long.MaxValue);
                return default;
            },
        });

        if (injectedLatency > TimeSpan.Zero)
        {
            builder.AddChaosLatency(new ChaosLatencyStrategyOptions { Latency = injectedLatency, InjectionRate = 1.0 });
        }

        return builder.Build();
    }
}

/// <summary>The SDK exporter's result with the gateway's answer behind it.</summary>
internal readonly record struct Attempt(ExportResult Result, GatewayAnswer Answer);

internal enum AttemptOutcome
{
    Success,
    Failure,

    /// <summary>Refused for good (a wrong key, invalid data): another endpoint would refuse it too.</summary>
    Rejected,

    /// <summary>Still throttled after waiting as asked: another endpoint may have room.</summary>
    Throttled,

    /// <summary>The circuit was open: nothing was sent.</summary>
    Refused,
}
