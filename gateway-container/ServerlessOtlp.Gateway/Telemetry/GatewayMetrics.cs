using System.Diagnostics;
using System.Diagnostics.Metrics;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Performance;

namespace ServerlessOtlp.Gateway.Telemetry;

/// <summary>The gateway's self-metrics (System.Diagnostics.Metrics), scraped at /metrics.</summary>
internal sealed class GatewayMetrics : IDisposable
{
    public const string MeterName = "ServerlessOtlp.Gateway";

    private readonly Meter _meter;
    private readonly Counter<long> _received;
    private readonly Counter<long> _refused;
    private readonly Histogram<double> _requestDuration;
    private readonly Histogram<double> _appendDuration;
    private readonly Counter<long> _appendedEvents;
    private readonly Counter<long> _appendedItems;
    private readonly Counter<long> _ingressUnits;
    private long _acceptedTotal;
    private long _refusedTotal;

    /// <summary>
    /// Boundaries in seconds from 0.5 ms to 60 s (the SDK's defaults, 0, 5, 10, 25 …, are meant for
    /// milliseconds and would put every request under 5 s in one bucket). Explicit, since Prometheus
    /// text has no form for exponential histograms.
    /// </summary>
    public static readonly InstrumentAdvice<double> LatencyBuckets = Processing.DrainMetrics.LatencyBuckets;

    /// <summary>The gateway's local work for the failure detector: its durable appends, averaged over 30 s (heartbeat <c>avgResponseMicros</c>).</summary>
    public Processing.LocalResponseTime AppendTime { get; } = new();

    /// <summary>Requests and appends for the deployment's performance model (heartbeat snapshots, <c>otlpctl status</c>).</summary>
    public NodePerformance Performance { get; } = NodePerformance.ForGateway();

    public GatewayMetrics(IMeterFactory? factory = null)
    {
        _meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        _received = _meter.CreateCounter<long>("otlp_gateway_items_accepted", "{item}", "Items made durable in the log");
        _refused = _meter.CreateCounter<long>("otlp_gateway_items_refused", "{item}", "Items refused, by reason");
        _requestDuration = _meter.CreateHistogram("otlp_gateway_request_duration", "s", "Time from request to answer", advice: LatencyBuckets);
        _appendDuration = _meter.CreateHistogram("otlp_gateway_append_duration", "s", "Time of one log append", advice: LatencyBuckets);
        _appendedEvents = _meter.CreateCounter<long>("otlp_gateway_events_appended", "{event}", "Events appended to the log");
        _appendedItems = _meter.CreateCounter<long>("otlp_gateway_items_appended", "{item}", "Items in the events appended to the log (durable before any answer)");
        _ingressUnits = _meter.CreateCounter<long>("otlp_gateway_log_ingress_units", "{unit}", "Events appended counted in 64 KB units, as Event Hubs bills ingress");
    }

    public long AcceptedTotal => Interlocked.Read(ref _acceptedTotal);

    public long RefusedTotal => Interlocked.Read(ref _refusedTotal);

    public void Accepted(string tenant, Signal signal, int items)
    {
        Interlocked.Add(ref _acceptedTotal, items);
        Performance[PerformanceComponents.Gateway].AddItems(items);
        _received.Add(items, new TagList { { "tenant", TenantLabel.Shared.Of(tenant) }, { "signal", signal.ToName() } });
    }

    public void Refused(string? tenant, Signal signal, string reason, int items)
    {
        Interlocked.Add(ref _refusedTotal, items);
        Performance[PerformanceComponents.Gateway].CountError();
        _refused.Add(items, new TagList { { "tenant", TenantLabel.Shared.Of(tenant) }, { "signal", signal.ToName() }, { "reason", reason } });
    }

    public void RecordRequest(TimeSpan elapsed, string protocol)
    {
        Performance[PerformanceComponents.Gateway].Record(elapsed, items: 0);
        _requestDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("protocol", protocol));
    }

    /// <param name="ingressUnits">The durable events in 64 KB units (an event of up to 64 KB is one).</param>
    public void RecordAppend(TimeSpan elapsed, int events, long items, bool ok, long ingressUnits = 0)
    {
        AppendTime.Record(elapsed);
        Performance[PerformanceComponents.Append].Record(elapsed, ok ? items : 0, ok);
        _appendDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("ok", ok));
        if (ok)
        {
            _appendedEvents.Add(events);
            _appendedItems.Add(items);
        }

        if (ingressUnits > 0)
        {
            _ingressUnits.Add(ingressUnits);
        }
    }

    public void Dispose() => _meter.Dispose();
}
