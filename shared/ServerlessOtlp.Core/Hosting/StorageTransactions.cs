using System.Diagnostics.Metrics;
using Azure.Core;
using Azure.Core.Pipeline;

namespace ServerlessOtlp.Hosting;

/// <summary>
/// Storage transactions this process sent, per service: every request attempt (retries included) is a
/// billable transaction, so they are counted in the Azure SDK pipeline per retry, where nothing is guessed.
/// Also published as <c>otlp_storage_transactions_total{service}</c> (meter <c>ServerlessOtlp.Storage</c>).
/// </summary>
public sealed class StorageTransactions
{
    public const string MeterName = "ServerlessOtlp.Storage";

    private static readonly Meter Meter = new(MeterName);
    private static readonly Counter<long> Counter = Meter.CreateCounter<long>("otlp_storage_transactions", unit: "{transaction}", description: "Storage requests sent (each attempt is billed), by service");

    private long _blob;
    private long _queue;
    private long _table;

    public long Blob => Interlocked.Read(ref _blob);

    public long Queue => Interlocked.Read(ref _queue);

    public long Table => Interlocked.Read(ref _table);

    public long Total => Blob + Queue + Table;

    internal HttpPipelinePolicy Policy(string service) => new CountingPolicy(this, service);

    private void Add(string service)
    {
        switch (service)
        {
            case "blob":
                Interlocked.Increment(ref _blob);
                break;
            case "queue":
                Interlocked.Increment(ref _queue);
                break;
            default:
                Interlocked.Increment(ref _table);
                break;
        }

        Counter.Add(1, new KeyValuePair<string, object?>("service", service));
    }

    private sealed class CountingPolicy(StorageTransactions owner, string service) : HttpPipelineSynchronousPolicy
    {
        public override void OnSendingRequest(HttpMessage message) => owner.Add(service);
    }
}
