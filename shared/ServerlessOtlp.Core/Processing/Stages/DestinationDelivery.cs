using Google.Protobuf;
using ServerlessOtlp.Export;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Processing.Stages;

/// <summary>
/// One destination's part of an event: exported through the destination's resilience pipeline and
/// settled (<see cref="SettleStage"/>), or, for a destination with <c>batch</c>, added to the
/// drain's batch of the partition (<see cref="DestinationBatches"/>), which exports and settles
/// consecutive events' parts together.
/// </summary>
internal sealed class DestinationDelivery(ResilientExporter exporter, SettleStage settle, TimeProvider time) : IDestinationBuffering
{
    /// <inheritdoc/>
    public DestinationBatches BeginBuffering(int partition) => new(partition, SendBatchAsync, time);

    public async Task<EventFate> DeliverAsync(EventContext item, DestinationConfig destination, IMessage message, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        var signal = item.Properties.Signal;
        if (destination.Batch is not null && DestinationBatches.Current(item.Partition) is { } batches)
        {
            return await batches.AddAsync(item.Tenant, destination, signal, item.Event, message, bytes, cancellationToken);
        }

        var started = time.GetUtcNow();
        var outcome = await exporter.ExportAsync(new ExportRequest(item.Tenant, destination, signal, message, bytes, item.Partition), cancellationToken);
        return await settle.SettleAsync(item.Tenant, destination, signal, item.Partition, [(item.Event, bytes)], bytes, outcome, started, cancellationToken);
    }

    /// <summary>A batch of consecutive events' items for one destination: one export, settled for every event in it.</summary>
    private async Task<BatchSettlement> SendBatchAsync(PendingBatch batch, CancellationToken cancellationToken)
    {
        int partition = batch.Partition;
        var outcome = await exporter.ExportAsync(new ExportRequest(batch.Tenant, batch.Destination, batch.Signal, batch.Message(), batch.Protobuf, partition), cancellationToken);
        var parts = batch.Parts.Select(p => (p.Event, batch.Protobuf.Slice(p.Offset, p.Length))).ToList();
        return await settle.SettleAsync(batch.Tenant, batch.Destination, batch.Signal, partition, parts, batch.Protobuf, outcome, batch.StartedAt, cancellationToken) switch
        {
            EventFate.DeadLettered => new BatchSettlement(batch.Parts.Count, null),
            EventFate.RetryLater => new BatchSettlement(0, batch.Floor),
            _ => default,
        };
    }
}
