using Microsoft.Extensions.Logging;
using ServerlessOtlp.Log;

namespace ServerlessOtlp.Processing.Stages;

/// <summary>How every stage dead-letters: logged with the event's partition and position, stored with the tenant, destination and signal.</summary>
internal sealed class DeadLettering(DeadLetterStore store, ILogger logger)
{
    public Task WriteAsync(int partition, ReadEvent logEvent, string? destination, string reason, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        var props = logEvent.Properties!;
        logger.LogWarning("Partition {Partition} position {Position}: dead-lettered for tenant {Tenant}: {Reason}", partition, logEvent.Position, props.Tenant, reason);
        return store.WriteAsync(props.Tenant, destination, props.Signal, partition, logEvent.Position.Value, reason, body, cancellationToken);
    }
}
