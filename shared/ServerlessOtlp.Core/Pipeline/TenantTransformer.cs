using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using OpenTelemetry.Proto.Collector.Trace.V1;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Pipeline.Ottl;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Pipeline;

/// <summary>
/// What <see cref="TenantTransformer.Apply"/> did to one request. Items are spans, log records or
/// data points. <see cref="Error"/> is set when a statement failed in error mode propagate: the
/// request is then partly transformed and must not be exported (the caller dead-letters the event
/// with this reason).
/// </summary>
internal readonly record struct TransformResult(int ItemsIn, int ItemsOut, int DroppedByFilter, int Errors, int Redacted, string? Error)
{
    public bool Failed => Error is not null;
}

/// <summary>
/// A tenant's pipeline stage on decoded export requests: redaction presets, then the OTTL
/// transforms in order (each statement over every item of its context before the next, as the
/// Collector's transform processor runs them), then the filters (an item matching any condition
/// is dropped, and the scopes and resources left empty with it). Statements are compiled once per
/// tenant config version. Also selects the part of a request a destination's <c>when</c> takes.
/// Thread-safe.
/// </summary>
internal sealed class TenantTransformer
{
    /// <summary>Most distinct <c>when</c> conditions cached; beyond, the cache starts over (configs are small).</summary>
    private const int MaxCachedConditions = 10_000;

    private readonly ConcurrentDictionary<string, TenantProgram> _programs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string, Signal), OttlCondition> _conditions = new();
    private readonly PipelineMetrics? _metrics;
    private readonly ILogger _logger;

    public TenantTransformer(PipelineMetrics? metrics = null, ILogger<TenantTransformer>? logger = null)
    {
        _metrics = metrics;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>True when <paramref name="tenant"/> has anything to do for <paramref name="signal"/> (else Apply only counts).</summary>
    public static bool HasWork(TenantConfig tenant, Signal signal) =>
        tenant.Redaction.Count > 0 || tenant.Transforms?.For(signal).Count > 0 || tenant.Filters?.For(signal).Count > 0;

    /// <summary>
    /// Runs the tenant's redaction, transforms and filters on <paramref name="request"/> (an
    /// Export*ServiceRequest of <paramref name="signal"/>), changing it in place.
    /// </summary>
    public TransformResult Apply(TenantConfig tenant, Signal signal, IMessage request)
    {
        int itemsIn = OttlTraversal.CountItems(request);
        var result = new TransformResult(itemsIn, itemsIn, 0, 0, 0, null);
        if (HasWork(tenant, signal))
        {
            result = Run(Program(tenant).For(signal), tenant, request, itemsIn);
        }

        _metrics?.Record(tenant.Id, signal, result);
        return result;
    }

    private TransformResult Run(SignalProgram program, TenantConfig tenant, IMessage request, int itemsIn)
    {
        int redacted = tenant.Redaction.Count > 0 ? Redaction.Apply(tenant.Redaction, request) : 0;
        bool propagate = tenant.TransformErrorMode == TransformErrorMode.Propagate;
        var run = new RunState(this, tenant.Id, propagate);
        var context = new OttlContext();

        foreach (var (text, statement, problem) in program.Transforms)
        {
            if (statement is null)
            {
                if (run.Fail($"transform statement \"{text}\" does not compile: {problem}"))
                {
                    return new TransformResult(itemsIn, 0, 0, run.Errors, redacted, run.Error);
                }

                continue;
            }

            if (!OttlTraversal.ForEach(request, statement.Context, context, c => run.Execute(statement, c)))
            {
                return new TransformResult(itemsIn, 0, 0, run.Errors, redacted, run.Error);
            }
        }

        int dropped = 0;
        if (program.Filters.Length > 0)
        {
            foreach (var (text, _, problem) in program.Filters.Where(f => f.Condition is null))
            {
                if (run.Fail($"filter condition \"{text}\" does not compile: {problem}"))
                {
                    return new TransformResult(itemsIn, 0, 0, run.Errors, redacted, run.Error);
                }
            }

            dropped = OttlTraversal.Prune(request, context, program.FilterLevels, (c, level) =>
            {
                foreach (var (_, condition, _) in program.Filters)
                {
                    if (condition is not null && condition.Context == level && run.Evaluate(condition, c))
                    {
                        return true;
                    }
                }

                return false;
            });
            if (run.Error is not null)
            {
                return new TransformResult(itemsIn, 0, 0, run.Errors, redacted, run.Error);
            }
        }

        return new TransformResult(itemsIn, itemsIn - dropped, dropped, run.Errors, redacted, null);
    }

    /// <summary>
    /// The part of <paramref name="request"/> that <paramref name="destination"/> takes: the
    /// request itself when it has no <c>when</c>, else a copy with only the resources, scopes and
    /// items matching the condition at its context (a condition on resource attributes selects
    /// whole resources; one on span fields selects spans). Null when nothing matches. A condition
    /// that fails to evaluate on an item does not match it.
    /// </summary>
    public IMessage? FilterForDestination(DestinationConfig destination, Signal signal, IMessage request)
    {
        if (destination.When is null)
        {
            return request;
        }

        var condition = Condition(destination.When, signal);
        var copy = request switch
        {
            ExportTraceServiceRequest t => (IMessage)t.Clone(),
            ExportLogsServiceRequest l => l.Clone(),
            ExportMetricsServiceRequest m => m.Clone(),
            _ => throw new ArgumentException($"not an OTLP export request: {request.GetType().Name}", nameof(request)),
        };
        OttlTraversal.Prune(copy, new OttlContext(), new HashSet<OttlContextKind> { condition.Context }, (c, _) => !Matches(condition, c));
        return OttlTraversal.CountItems(copy) == 0 ? null : copy;
    }

    /// <summary>Whether a destination's <c>when</c> condition holds for one item (or resource) set in <paramref name="item"/>.</summary>
    public bool Matches(string whenCondition, Signal signal, OttlContext item) => Matches(Condition(whenCondition, signal), item);

    private static bool Matches(OttlCondition condition, OttlContext item)
    {
        try
        {
            return condition.Evaluate(item);
        }
        catch (Exception ex) when (ex is OttlRuntimeException or RegexMatchTimeoutException)
        {
            return false;
        }
    }

    private OttlCondition Condition(string text, Signal signal)
    {
        if (_conditions.TryGetValue((text, signal), out var condition))
        {
            return condition;
        }

        if (_conditions.Count >= MaxCachedConditions)
        {
            _conditions.Clear();
        }

        // Validated at apply time; a stored config that no longer compiles is a bug worth an exception.
        return _conditions[(text, signal)] = OttlCompiler.CompileCondition(text, signal);
    }

    private TenantProgram Program(TenantConfig tenant)
    {
        // Version 0 is a config parsed from a file (dev mode, tests): only the same instance is the same config.
        if (_programs.TryGetValue(tenant.Id, out var program)
            && program.Version == tenant.Version
            && (tenant.Version != 0 || ReferenceEquals(program.Config, tenant)))
        {
            return program;
        }

        program = new TenantProgram(tenant);
        _programs[tenant.Id] = program;
        return program;
    }

    private sealed class TenantProgram(TenantConfig config)
    {
        private readonly SignalProgram _traces = new(config, Signal.Traces);
        private readonly SignalProgram _metrics = new(config, Signal.Metrics);
        private readonly SignalProgram _logs = new(config, Signal.Logs);

        public TenantConfig Config { get; } = config;

        public long Version { get; } = config.Version;

        public SignalProgram For(Signal signal) => signal switch
        {
            Signal.Traces => _traces,
            Signal.Metrics => _metrics,
            _ => _logs,
        };
    }

    /// <summary>The compiled statements and conditions of one signal; a null entry keeps the problem of one that does not compile.</summary>
    private sealed class SignalProgram
    {
        public SignalProgram(TenantConfig config, Signal signal)
        {
            Transforms = (config.Transforms?.For(signal) ?? []).Select(text =>
            {
                try
                {
                    return (text, OttlCompiler.CompileStatement(text, signal), (string?)null);
                }
                catch (OttlParseException ex)
                {
                    return (text, (OttlStatement?)null, OttlCompiler.Describe(ex));
                }
            }).ToArray();
            Filters = (config.Filters?.For(signal) ?? []).Select(text =>
            {
                try
                {
                    return (text, OttlCompiler.CompileCondition(text, signal), (string?)null);
                }
                catch (OttlParseException ex)
                {
                    return (text, (OttlCondition?)null, OttlCompiler.Describe(ex));
                }
            }).ToArray();
            FilterLevels = Filters.Where(f => f.Condition is not null).Select(f => f.Condition!.Context).ToHashSet();
        }

        public (string Text, OttlStatement? Statement, string? Problem)[] Transforms { get; }

        public (string Text, OttlCondition? Condition, string? Problem)[] Filters { get; }

        public IReadOnlySet<OttlContextKind> FilterLevels { get; }
    }

    /// <summary>Error handling of one Apply: counts errors, and in propagate mode keeps the first as the reason.</summary>
    private sealed class RunState(TenantTransformer owner, string tenant, bool propagate)
    {
        public int Errors { get; private set; }

        public string? Error { get; private set; }

        public bool Execute(OttlStatement statement, OttlContext c)
        {
            try
            {
                statement.Execute(c);
                return true;
            }
            catch (Exception ex) when (ex is OttlRuntimeException or RegexMatchTimeoutException)
            {
                return !Fail($"transform statement \"{statement.Text}\" failed: {ex.Message}");
            }
        }

        public bool Evaluate(OttlCondition condition, OttlContext c)
        {
            if (Error is not null)
            {
                return false;
            }

            try
            {
                return condition.Evaluate(c);
            }
            catch (Exception ex) when (ex is OttlRuntimeException or RegexMatchTimeoutException)
            {
                Fail($"filter condition \"{condition.Text}\" failed: {ex.Message}");
                return false;
            }
        }

        /// <summary>Records an error; true when it stops the request (propagate).</summary>
        public bool Fail(string message)
        {
            Errors++;
            if (propagate)
            {
                Error ??= message;
                return true;
            }

            owner._logger.LogDebug("Tenant {Tenant}: {Problem} (error mode ignore: going on)", tenant, message);
            return false;
        }
    }
}
