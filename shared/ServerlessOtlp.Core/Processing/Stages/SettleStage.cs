using Microsoft.Extensions.Logging;
using ServerlessOtlp.Export;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Processing.Stages;

/// <summary>
/// Settles one export of one event's part, or of a batch of events' parts, for a destination:
/// success is delivered (items a backend refused in a partial success are counted, never retried);
/// a permanent refusal dead-letters each event's part; a transient failure after the inline budget
/// parks the whole request in the retry store and counts as delivered, so one tenant's outage never
/// stalls the partition. Only when parking fails (or there is no retry store) does the drain retry
/// from the events later.
/// </summary>
internal sealed class SettleStage(RetryStore? retryStore, DeadLettering deadLetters, ILogger logger)
{
    private long _parked;
    private long _rejectedItems;

    /// <summary>Requests parked in the retry store.</summary>
    public long ParkedTotal => Interlocked.Read(ref _parked);

    /// <summary>Items refused by backends in partial successes.</summary>
    public long RejectedItemsTotal => Interlocked.Read(ref _rejectedItems);

    /// <param name="parts">Each event of the export with its part of <paramref name="bytes"/>: what a permanent refusal dead-letters.</param>
    /// <param name="bytes">The whole request: what a transient failure parks.</param>
    /// <param name="started">When the export began: the retry store's first failure.</param>
    public async Task<EventFate> SettleAsync(TenantConfig tenant, DestinationConfig destination, Signal signal, int partition, IReadOnlyList<(ReadEvent Event, ReadOnlyMemory<byte> Bytes)> parts, ReadOnlyMemory<byte> bytes, ExportOutcome outcome, DateTimeOffset started, CancellationToken cancellationToken)
    {
        switch (outcome.Status)
        {
            case ExportStatus.Success:
                if (outcome.RejectedItems > 0)
                {
                    Interlocked.Add(ref _rejectedItems, outcome.RejectedItems);
                    logger.LogWarning("Tenant {Tenant} destination {Destination}: {Message}", tenant.Id, destination.Name, outcome.Message);
                }

                return EventFate.Delivered;
            case ExportStatus.Permanent:
                foreach (var (logEvent, part) in parts)
                {
                    await deadLetters.WriteAsync(partition, logEvent, destination.Name, outcome.Message ?? "refused", part, cancellationToken);
                }

                return EventFate.DeadLettered;
        }

        if (retryStore == null)
        {
            logger.LogWarning("Tenant {Tenant} destination {Destination}: {Message}; partition {Partition} retries later", tenant.Id, destination.Name, outcome.Message, partition);
            return EventFate.RetryLater;
        }

        try
        {
            await retryStore.WriteAsync(tenant.Id, destination.Name, signal, bytes, started, 1, outcome.Message ?? "failed", cancellationToken);
            Interlocked.Increment(ref _parked);
            logger.LogWarning("Tenant {Tenant} destination {Destination}: {Message}; parked in the retry store", tenant.Id, destination.Name, outcome.Message);
            return EventFate.Delivered;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning(ex, "Tenant {Tenant} destination {Destination}: parking in the retry store failed; partition {Partition} retries later", tenant.Id, destination.Name, partition);
            return EventFate.RetryLater;
        }
    }
}
