using System.Diagnostics;
using System.Diagnostics.Metrics;
using ServerlessOtlp.Performance;

namespace ServerlessOtlp.Export;

/// <summary>
/// Export latency per destination (meter <c>ServerlessOtlp.Export</c>): <c>otlp_export_attempt_duration</c> for each
/// attempt the resilience pipeline makes and <c>otlp_export_duration</c> for the export as the drain sees it (inline
/// retries and waits included), labelled by tenant (capped, <see cref="TenantLabel"/>), destination, kind and outcome.
/// </summary>
internal sealed class ExportMetrics : IDisposable
{
    private readonly Meter _meter;
    private readonly Histogram<double> _attempt;
    private readonly Histogram<double> _final;

    public ExportMetrics(IMeterFactory? factory = null)
    {
        _meter = factory?.Create(RetryStoreMetrics.MeterName) ?? new Meter(RetryStoreMetrics.MeterName);
        _attempt = _meter.CreateHistogram("otlp_export_attempt_duration", "s", "One attempt to send to a destination, by outcome", advice: Processing.DrainMetrics.LatencyBuckets);
        _final = _meter.CreateHistogram("otlp_export_duration", "s", "An export to a destination, inline retries included, by its final outcome", advice: Processing.DrainMetrics.LatencyBuckets);
    }

    /// <summary>One for the process: every exporter records into the same instruments.</summary>
    public static ExportMetrics Shared { get; } = new();

    /// <summary>Tenant and destination labels: a tenant past the label cap also hides its destination names.</summary>
    public static TagList DestinationTags(string tenant, string destination)
    {
        string label = TenantLabel.Shared.Of(tenant);
        return new TagList { { "tenant", label }, { "destination", label == TenantLabel.Other ? TenantLabel.Other : destination } };
    }

    public void Attempt(ExportRequest request, string outcome, TimeSpan elapsed) => Record(_attempt, request, outcome, elapsed);

    public void Final(ExportRequest request, string outcome, TimeSpan elapsed) => Record(_final, request, outcome, elapsed);

    /// <summary>The outcome label of an export's result.</summary>
    public static string Outcome(ExportStatus status) => status switch
    {
        ExportStatus.Success => "success",
        ExportStatus.Permanent => "permanent",
        _ => "transient",
    };

    public void Dispose() => _meter.Dispose();

    private static void Record(Histogram<double> histogram, ExportRequest request, string outcome, TimeSpan elapsed)
    {
        if (!histogram.Enabled)
        {
            return;
        }

        var tags = DestinationTags(request.Tenant.Id, request.Destination.Name);
        tags.Add("kind", request.Destination.Kind);
        tags.Add("outcome", outcome);
        histogram.Record(elapsed.TotalSeconds, tags);
    }
}
