using System.Diagnostics.Metrics;

namespace ServerlessOtlp.Client.Implementation;

/// <summary>The exporter's self-metrics, on the meter <see cref="MeterName"/>; one instance per failover exporter.</summary>
internal sealed class ClientMetrics : IDisposable
{
    public const string MeterName = "ServerlessOtlp.Client";

    private readonly Meter _meter;
    private readonly Counter<long> _exports;
    private readonly Counter<long> _failovers;
    private readonly Counter<long> _dropped;
    private readonly Histogram<double> _latency;
    private readonly KeyValuePair<string, object?> _signal;

    public ClientMetrics(string signal, Func<int> buffered, Func<IEnumerable<(string Endpoint, EndpointHealth Health)>> health)
    {
        _signal = new("signal", signal);
        _meter = new Meter(MeterName);
        _exports = _meter.CreateCounter<long>("serverlessotlp.client.exports", "{export}", "Exports per endpoint and outcome (success, failure, throttled, rejected, circuit_open), retries on the endpoint included.");
        _failovers = _meter.CreateCounter<long>("serverlessotlp.client.failovers", "{failover}", "Exports that moved on to another endpoint after a failure.");
        _dropped = _meter.CreateCounter<long>("serverlessotlp.client.dropped_items", "{item}", "Items given up: buffer full (buffer_full), not bufferable (not_buffered), or refused for good by a gateway (rejected, with its gRPC status).");
        _latency = _meter.CreateHistogram<double>("serverlessotlp.client.export_duration", "ms", "Duration of successful exports per endpoint, retries included.");
        _meter.CreateObservableGauge("serverlessotlp.client.buffered_items", () => new Measurement<int>(buffered(), _signal), "{item}", "Items waiting in the buffer.");
        _meter.CreateObservableGauge(
            "serverlessotlp.client.circuit_state",
            () => health().Select(h => new Measurement<int>((int)h.Health, _signal, new("endpoint", h.Endpoint))),
            null,
            "Circuit of each endpoint: 0 closed, 1 half-open, 2 open.");
    }

    public void Export(string endpoint, string outcome) => _exports.Add(1, _signal, new("endpoint", endpoint), new("outcome", outcome));

    public void Failover() => _failovers.Add(1, _signal);

    public void Dropped(long items, string reason)
    {
        if (items > 0)
        {
            _dropped.Add(items, _signal, new("reason", reason));
        }
    }

    public void Dropped(long items, string reason, string status)
    {
        if (items > 0)
        {
            _dropped.Add(items, _signal, new("reason", reason), new("rpc.grpc.status", status));
        }
    }

    public void Latency(string endpoint, double milliseconds) => _latency.Record(milliseconds, _signal, new("endpoint", endpoint));

    public void Dispose() => _meter.Dispose();
}
