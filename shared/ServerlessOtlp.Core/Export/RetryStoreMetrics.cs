using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace ServerlessOtlp.Export;

/// <summary>
/// The retry store's backlog as observable gauges per tenant and destination: batches waiting,
/// their bytes, and the age of the oldest. Fed by each <see cref="RetryStoreDrainer"/> round from
/// the listing it makes anyway, so observing costs no storage call; the age is computed when observed.
/// </summary>
public sealed class RetryStoreMetrics : IDisposable
{
    public const string MeterName = "ServerlessOtlp.Export";

    private readonly Meter _meter;
    private readonly TimeProvider _time;
    private volatile IReadOnlyList<Backlog> _backlog = [];

    public RetryStoreMetrics(IMeterFactory? factory = null, TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        _meter.CreateObservableGauge("otlp_retry_store_batches", () => Measure(b => b.Count), "{batch}", "Batches parked in the retry store, per tenant and destination");
        _meter.CreateObservableGauge("otlp_retry_store_bytes", () => Measure(b => b.Bytes), "By", "Bytes parked in the retry store, per tenant and destination");
        _meter.CreateObservableGauge("otlp_retry_store_oldest_age", () => MeasureAge(), "s", "Age of the oldest parked batch since its first failure, per tenant and destination");
    }

    /// <summary>The backlog as of the last update (ages as of now).</summary>
    public IReadOnlyList<RetryBacklog> Current
    {
        get
        {
            var now = _time.GetUtcNow();
            return [.. _backlog.Select(b => new RetryBacklog(b.Tenant, b.Destination, b.Count, b.Bytes, now - b.Oldest))];
        }
    }

    /// <summary>Replaces the backlog with what a listing of the store found (entries settled since excluded).</summary>
    public void Update(IEnumerable<RetryEntry> entries) =>
        _backlog = [.. entries
            .GroupBy(e => (e.Tenant, e.Destination))
            .Select(g => new Backlog(g.Key.Tenant, g.Key.Destination, g.Count(), g.Sum(e => e.Bytes), g.Min(e => e.FirstFailure)))];

    public void Dispose() => _meter.Dispose();

    private IEnumerable<Measurement<long>> Measure(Func<Backlog, long> value) =>
        _backlog.Select(b => new Measurement<long>(value(b), Tags(b)));

    private IEnumerable<Measurement<double>> MeasureAge()
    {
        var now = _time.GetUtcNow();
        return _backlog.Select(b => new Measurement<double>(Math.Max(0, (now - b.Oldest).TotalSeconds), Tags(b)));
    }

    private static TagList Tags(Backlog b) => ExportMetrics.DestinationTags(b.Tenant, b.Destination);

    private sealed record Backlog(string Tenant, string Destination, int Count, long Bytes, DateTimeOffset Oldest);
}
