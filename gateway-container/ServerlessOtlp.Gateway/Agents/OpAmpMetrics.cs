using System.Diagnostics.Metrics;
using ServerlessOtlp.Gateway.Telemetry;

namespace ServerlessOtlp.Gateway.Agents;

/// <summary>
/// The OpAMP server's self-metrics, in the gateway's meter (so /metrics exports them): requests by outcome and
/// the agents table's operations by kind — what BENCHMARKS.md's fleet run reads to show the table's cost.
/// </summary>
internal sealed class OpAmpMetrics : IDisposable
{
    private readonly Meter _meter;
    private readonly Counter<long> _requests;
    private readonly Counter<long> _storage;
    private long _requestsTotal;
    private long _storageTotal;

    public OpAmpMetrics(IMeterFactory? factory = null)
    {
        _meter = factory?.Create(GatewayMetrics.MeterName) ?? new Meter(GatewayMetrics.MeterName);
        _requests = _meter.CreateCounter<long>("otlp_opamp_requests", "{request}", "OpAMP requests answered, by outcome");
        _storage = _meter.CreateCounter<long>("otlp_opamp_storage_operations", "{operation}", "Operations on the agents table, by kind");
    }

    public long RequestsTotal => Interlocked.Read(ref _requestsTotal);

    public long StorageOperationsTotal => Interlocked.Read(ref _storageTotal);

    public void Request(string outcome)
    {
        Interlocked.Increment(ref _requestsTotal);
        _requests.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
    }

    public void Storage(string operation)
    {
        Interlocked.Increment(ref _storageTotal);
        _storage.Add(1, new KeyValuePair<string, object?>("operation", operation));
    }

    public void Dispose() => _meter.Dispose();
}
