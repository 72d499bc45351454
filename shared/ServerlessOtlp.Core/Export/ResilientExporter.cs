using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Simmy;
using Polly.Simmy.Fault;
using Polly.Simmy.Outcomes;
using Polly.Timeout;
using ServerlessOtlp.Performance;
using ServerlessOtlp.Pipeline.Ottl;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Export;

/// <summary>
/// The exporters, each call wrapped in the resilience pipeline of its (tenant, destination):
/// concurrency limit → inline budget (total timeout) → retry (exponential backoff with jitter,
/// honouring <c>RetryInfo</c> / <c>Retry-After</c>, transient outcomes only) → circuit breaker →
/// attempt timeout → chaos (when enabled). Never throws for a backend's failure: the answer is an
/// <see cref="ExportOutcome"/>; only the caller's cancellation escapes.
/// </summary>
public sealed class ResilientExporter
{
    /// <summary>The last failed attempt's reason, so that "budget exhausted" still says why.</summary>
    private static readonly ResiliencePropertyKey<string> LastFailure = new("otlp.lastFailure");

    private readonly IReadOnlyDictionary<string, IDestinationExporter> _exporters;
    private readonly ExportResilienceOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<(string Tenant, string Destination), DestinationPipeline> _pipelines = new();

    public ResilientExporter(IEnumerable<IDestinationExporter> exporters, ExportResilienceOptions? options = null, TimeProvider? time = null, ILogger<ResilientExporter>? logger = null)
    {
        _exporters = exporters.ToDictionary(e => e.Kind, StringComparer.Ordinal);
        _options = options ?? new ExportResilienceOptions();
        _time = time ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    public ExportResilienceOptions Options => _options;

    /// <summary>Where each export's final outcome and time are recorded for the performance model (component <c>export</c>).</summary>
    public ComponentRecorder? Performance { get; init; }

    public bool Supports(string kind) => _exporters.ContainsKey(kind);

    /// <summary>The exporters whose per-partition state the drain saves with its checkpoint, by kind.</summary>
    public IEnumerable<(string Kind, IPartitionStateExporter Exporter)> PartitionStateExporters =>
        _exporters.Where(e => e.Value is IPartitionStateExporter).Select(e => (e.Key, (IPartitionStateExporter)e.Value));

    /// <summary>The breaker of a (tenant, destination) pipeline; <see cref="CircuitState.Closed"/> before its first use.</summary>
    public CircuitState BreakerState(string tenant, string destination) =>
        _pipelines.TryGetValue((tenant, destination), out var p) ? p.Breaker.CircuitState : CircuitState.Closed;

    /// <summary>The inline retry budget of a destination: its <c>retry.maxElapsed</c> or the default, never above <see cref="ExportResilienceOptions.MaxInlineBudget"/>.</summary>
    public TimeSpan InlineBudget(DestinationConfig destination)
    {
        var budget = destination.Retry?.MaxElapsed ?? _options.InlineBudget;
        return budget > ExportResilienceOptions.MaxInlineBudget ? ExportResilienceOptions.MaxInlineBudget : budget;
    }

    /// <summary>Exports through the destination's pipeline. A transient result means the inline budget is spent (or the breaker is open).</summary>
    public async Task<ExportOutcome> ExportAsync(ExportRequest request, CancellationToken cancellationToken = default)
    {
        long started = _time.GetTimestamp();
        var outcome = await ExportOnceAsync(request, cancellationToken);
        var elapsed = _time.GetElapsedTime(started);
        ExportMetrics.Shared.Final(request, ExportMetrics.Outcome(outcome.Status), elapsed);
        if (Performance is { } recorder)
        {
            bool ok = outcome.Status == ExportStatus.Success;
            recorder.Record(elapsed, ok ? OttlTraversal.CountItems(request.Message) : 0, ok);
        }

        return outcome;
    }

    /// <summary>One attempt inside the resilience pipeline, timed (a timeout or a thrown error is a transient attempt).</summary>
    private async ValueTask<ExportOutcome> AttemptAsync(IDestinationExporter exporter, ExportRequest request, CancellationToken cancellationToken)
    {
        long started = _time.GetTimestamp();
        string outcome = "transient";
        try
        {
            var result = await exporter.ExportAsync(request, cancellationToken);
            outcome = ExportMetrics.Outcome(result.Status);
            return result;
        }
        finally
        {
            ExportMetrics.Shared.Attempt(request, outcome, _time.GetElapsedTime(started));
        }
    }

    private async Task<ExportOutcome> ExportOnceAsync(ExportRequest request, CancellationToken cancellationToken)
    {
        if (!_exporters.TryGetValue(request.Destination.Kind, out var exporter))
        {
            return ExportOutcome.Permanent($"destination kind {request.Destination.Kind} is not available in this build");
        }

        var pipeline = PipelineFor(request.Tenant.Id, request.Destination);
        var budget = InlineBudget(request.Destination);
        if (!await pipeline.Concurrency.WaitAsync(budget, cancellationToken))
        {
            return ExportOutcome.Transient($"more than {_options.MaxConcurrency} exports in flight for {budget.TotalSeconds:0.#} s");
        }

        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        try
        {
            return await pipeline.Pipeline.ExecuteAsync(
                static (context, state) => state.self.AttemptAsync(state.exporter, state.request, context.CancellationToken),
                context,
                (self: this, exporter, request));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (TimeoutRejectedException)
        {
            string last = context.Properties.TryGetValue(LastFailure, out var reason) ? reason : "the attempt timed out";
            return ExportOutcome.Transient($"{last} (no success within the inline budget of {budget.TotalSeconds:0.#} s)");
        }
        catch (BrokenCircuitException ex)
        {
            return ExportOutcome.Transient("circuit open: " + ex.Message, ex.RetryAfter);
        }
        catch (Exception ex)
        {
            return ExportOutcome.Transient(ex.GetType().Name + ": " + ex.Message);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
            pipeline.Concurrency.Release();
        }
    }

    private DestinationPipeline PipelineFor(string tenant, DestinationConfig destination)
    {
        var key = (tenant, destination.Name);
        if (_pipelines.TryGetValue(key, out var existing) && existing.Matches(destination))
        {
            return existing;
        }

        // New, or the tenant changed the destination's timing: rebuild (the breaker starts closed).
        return _pipelines.AddOrUpdate(
            key,
            _ => Build(tenant, destination),
            (_, current) => current.Matches(destination) ? current : Build(tenant, destination));
    }

    private DestinationPipeline Build(string tenant, DestinationConfig destination)
    {
        var budget = InlineBudget(destination);
        var attempt = destination.Timeout ?? _options.AttemptTimeout;
        if (attempt > budget)
        {
            attempt = budget;
        }

        var breaker = new CircuitBreakerStateProvider();
        var builder = new ResiliencePipelineBuilder<ExportOutcome>
        {
            Name = "export",
            InstanceName = tenant + "/" + destination.Name,
            TimeProvider = _time,
        };
        builder.AddTimeout(budget);
        builder.AddRetry(RetryOptions(tenant, destination, budget));
        builder.AddCircuitBreaker(BreakerOptions(tenant, destination, breaker));
        builder.AddTimeout(attempt);
        if (_options.Chaos.Enabled)
        {
            AddChaos(builder, tenant, destination.Name);
        }

        return new DestinationPipeline(destination.Timeout, destination.Retry, builder.Build(), breaker, new SemaphoreSlim(Math.Max(1, _options.MaxConcurrency)));
    }

    private RetryStrategyOptions<ExportOutcome> RetryOptions(string tenant, DestinationConfig destination, TimeSpan budget) => new()
    {
        MaxRetryAttempts = int.MaxValue, // bounded by the budget
        BackoffType = DelayBackoffType.Exponential,
        UseJitter = true,
        Delay = destination.Retry?.InitialInterval ?? _options.InitialInterval,
        MaxDelay = destination.Retry?.MaxInterval ?? _options.MaxInterval,
        ShouldHandle = args => ValueTask.FromResult(ShouldRetry(args.Outcome, budget)),
        DelayGenerator = static args => ValueTask.FromResult(args.Outcome.Exception == null ? args.Outcome.Result.RetryAfter : null),
        OnRetry = args =>
        {
            args.Context.Properties.Set(LastFailure, args.Outcome.Exception is { } ex ? ex.GetType().Name + ": " + ex.Message : args.Outcome.Result.Message ?? "failed");
            _logger.LogDebug("Export to {Tenant}/{Destination}: attempt {Attempt} failed ({Reason}); retrying in {Delay}", tenant, destination.Name, args.AttemptNumber + 1, args.Outcome.Exception?.Message ?? args.Outcome.Result.Message, args.RetryDelay);
            return default;
        },
    };

    private CircuitBreakerStrategyOptions<ExportOutcome> BreakerOptions(string tenant, DestinationConfig destination, CircuitBreakerStateProvider breaker) => new()
    {
        FailureRatio = _options.BreakerFailureRatio,
        MinimumThroughput = Math.Max(2, _options.BreakerMinimumThroughput),
        SamplingDuration = _options.BreakerSamplingDuration,
        BreakDuration = _options.BreakerBreakDuration,
        StateProvider = breaker,
        ShouldHandle = static args => ValueTask.FromResult(IsFailure(args.Outcome)),
        OnOpened = args =>
        {
            _logger.LogWarning("Export to {Tenant}/{Destination}: circuit open for {Duration}", tenant, destination.Name, args.BreakDuration);
            return default;
        },
    };

    /// <summary>Injected outcomes and faults (<see cref="ExportResilienceOptions.Chaos"/>), for the tests and soaks that need a failing backend.</summary>
    private void AddChaos(ResiliencePipelineBuilder<ExportOutcome> builder, string tenant, string destinationName)
    {
        var chaos = _options.Chaos;
        var injected = chaos.Outcome;
        var target = chaos.Target;
        Func<EnabledGeneratorArguments, ValueTask<bool>>? enabled = target == null ? null : _ => ValueTask.FromResult(target(tenant, destinationName));
        builder.AddChaosOutcome(new ChaosOutcomeStrategyOptions<ExportOutcome>
        {
            InjectionRate = chaos.OutcomeRate,
            OutcomeGenerator = _ => ValueTask.FromResult<Outcome<ExportOutcome>?>(Outcome.FromResult(injected)),
            EnabledGenerator = enabled,
        });
        builder.AddChaosFault(new ChaosFaultStrategyOptions
        {
            InjectionRate = chaos.FaultRate,
            FaultGenerator = _ => ValueTask.FromResult<Exception?>(chaos.Fault()),
            EnabledGenerator = enabled,
        });
    }

    /// <summary>
    /// Retry transient outcomes and exceptions (timeouts, connection failures), not permanent ones,
    /// not an open breaker (the batch goes to the retry store at once), not a wait longer than the budget.
    /// </summary>
    internal static bool ShouldRetry(Outcome<ExportOutcome> outcome, TimeSpan budget) => outcome.Exception switch
    {
        null => outcome.Result.Status == ExportStatus.Transient && (outcome.Result.RetryAfter is not { } wait || wait < budget),
        BrokenCircuitException or IsolatedCircuitException => false,
        TimeoutRejectedException => true,
        OperationCanceledException => false,
        _ => true,
    };

    /// <summary>What the breaker counts as the destination failing: transient answers and exceptions.</summary>
    internal static bool IsFailure(Outcome<ExportOutcome> outcome) => outcome.Exception switch
    {
        null => outcome.Result.Status == ExportStatus.Transient,
        OperationCanceledException => false,
        _ => true,
    };

    private sealed record DestinationPipeline(TimeSpan? Timeout, RetryConfig? Retry, ResiliencePipeline<ExportOutcome> Pipeline, CircuitBreakerStateProvider Breaker, SemaphoreSlim Concurrency)
    {
        public bool Matches(DestinationConfig destination) => Timeout == destination.Timeout && Retry == destination.Retry;
    }
}
