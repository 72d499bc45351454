using ServerlessOtlp.Otlp;

namespace ServerlessOtlp.Tenants;

/// <summary>
/// Checks one OTTL statement or condition at apply time. <see cref="TenantFileParser"/> calls
/// it for every entry of <c>transforms</c>, <c>filters</c> and every destination's <c>when</c>;
/// without one given it uses the pipeline's <see cref="Pipeline.Ottl.OttlValidator"/>.
/// </summary>
public interface IOttlValidator
{
    /// <summary>
    /// Null when <paramref name="statement"/> is valid, else the problem (with the line and column
    /// inside the statement). <paramref name="context"/> is one of <see cref="OttlContexts"/>.
    /// </summary>
    string? Validate(string statement, string context);
}

/// <summary>
/// The <c>context</c> strings passed to <see cref="IOttlValidator.Validate"/>: where the text comes
/// from, which says whether it is a statement or a condition and for which signal.
/// </summary>
internal static class OttlContexts
{
    /// <summary>Statements (editor calls with an optional <c>where</c>) of <c>transforms.traces</c> etc.</summary>
    public const string TransformTraces = "transforms.traces";
    public const string TransformMetrics = "transforms.metrics";
    public const string TransformLogs = "transforms.logs";

    /// <summary>Conditions of <c>filters.traces</c> etc.: matching items are dropped.</summary>
    public const string FilterTraces = "filters.traces";
    public const string FilterMetrics = "filters.metrics";
    public const string FilterLogs = "filters.logs";

    /// <summary>A destination's <c>when</c> condition, checked once per signal the destination carries.</summary>
    public const string WhenTraces = "when.traces";
    public const string WhenMetrics = "when.metrics";
    public const string WhenLogs = "when.logs";

    public static string Transform(Signal signal) => signal switch
    {
        Signal.Traces => TransformTraces,
        Signal.Metrics => TransformMetrics,
        _ => TransformLogs,
    };

    public static string Filter(Signal signal) => signal switch
    {
        Signal.Traces => FilterTraces,
        Signal.Metrics => FilterMetrics,
        _ => FilterLogs,
    };

    public static string When(Signal signal) => signal switch
    {
        Signal.Traces => WhenTraces,
        Signal.Metrics => WhenMetrics,
        _ => WhenLogs,
    };

    /// <summary>True for the condition contexts (filters and when), false for transform statements.</summary>
    public static bool IsCondition(string context) => !context.StartsWith("transforms.", StringComparison.Ordinal);
}
