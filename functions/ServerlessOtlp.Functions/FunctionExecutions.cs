using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Middleware;
using ServerlessOtlp.Processing;

namespace ServerlessOtlp.Functions;

/// <summary>
/// Counts every execution of this app's functions and times it (meter <c>ServerlessOtlp.Functions</c>:
/// <c>otlp_function_executions{function, outcome}</c>, <c>otlp_function_duration{function}</c> in seconds):
/// Flex Consumption bills executions and instance memory while they run, so the bill's two meters are
/// counted where they happen instead of being inferred from schedules.
/// </summary>
public sealed class FunctionExecutions : IFunctionsWorkerMiddleware, IDisposable
{
    public const string MeterName = "ServerlessOtlp.Functions";

    private readonly Meter _meter;
    private readonly Counter<long> _executions;
    private readonly Histogram<double> _duration;
    private long _total;

    public FunctionExecutions(IMeterFactory? factory = null)
    {
        _meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        _executions = _meter.CreateCounter<long>("otlp_function_executions", "{execution}", "Function executions, by function and outcome (ok, failed)");
        _duration = _meter.CreateHistogram("otlp_function_duration", "s", "Duration of a function execution", advice: DrainMetrics.LatencyBuckets);
    }

    /// <summary>Executions since this worker started.</summary>
    public long Total => Interlocked.Read(ref _total);

    public Task Invoke(FunctionContext context, FunctionExecutionDelegate next) =>
        MeasureAsync(context.FunctionDefinition.Name, () => next(context));

    /// <summary>Runs <paramref name="execution"/> of <paramref name="function"/>, counted and timed whatever its outcome.</summary>
    public async Task MeasureAsync(string function, Func<Task> execution)
    {
        long started = Stopwatch.GetTimestamp();
        string outcome = "failed";
        try
        {
            await execution();
            outcome = "ok";
        }
        finally
        {
            Interlocked.Increment(ref _total);
            var name = new KeyValuePair<string, object?>("function", function);
            _executions.Add(1, name, new KeyValuePair<string, object?>("outcome", outcome));
            _duration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, name);
        }
    }

    public void Dispose() => _meter.Dispose();
}
