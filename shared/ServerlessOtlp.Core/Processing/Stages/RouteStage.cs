using Google.Protobuf;
using ServerlessOtlp.Export;
using ServerlessOtlp.Pipeline;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Processing.Stages;

/// <summary>
/// The end of the chain: the request goes to every destination of the tenant for its signal, all
/// at once (a slow or failing destination never delays the others). A destination with a
/// <c>when</c> condition gets only the matching part; one whose kind this build lacks gets a dead
/// letter. The event's fate is the worst of its destinations' and the fate so far.
/// </summary>
internal sealed class RouteStage(TenantTransformer transformer, ResilientExporter exporter, DeadLettering deadLetters, DestinationDelivery delivery) : IDrainStage
{
    public async Task<EventFate> ProcessAsync(EventContext item, CancellationToken cancellationToken)
    {
        var signal = item.Properties.Signal;
        var message = item.Message!;
        var destinations = item.Tenant.Destinations;
        var deliveries = new List<Task<EventFate>>(destinations.Count);
        foreach (var destination in destinations)
        {
            if (!destination.Signals.Contains(signal))
            {
                continue;
            }

            var routed = destination.When == null ? message : transformer.FilterForDestination(destination, signal, message);
            if (routed == null)
            {
                continue;
            }

            var routedBytes = ReferenceEquals(routed, message) ? item.Bytes : routed.ToByteArray();
            deliveries.Add(DeliverAsync(item, destination, routed, routedBytes, cancellationToken));
        }

        item.WorkDone(); // routing included; the exports started above are not local work

        var result = item.Fate;
        foreach (var destinationFate in await Task.WhenAll(deliveries))
        {
            if (destinationFate == EventFate.RetryLater)
            {
                result = EventFate.RetryLater;
            }
            else if (destinationFate == EventFate.DeadLettered && result != EventFate.RetryLater)
            {
                result = EventFate.DeadLettered;
            }
        }

        return result;
    }

    // Not async on the way to the destination: one state machine per destination, the delivery's.
    private Task<EventFate> DeliverAsync(EventContext item, DestinationConfig destination, IMessage message, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken) =>
        exporter.Supports(destination.Kind)
            ? delivery.DeliverAsync(item, destination, message, bytes, cancellationToken)
            : UnavailableAsync(item, destination, bytes, cancellationToken);

    private async Task<EventFate> UnavailableAsync(EventContext item, DestinationConfig destination, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        await deadLetters.WriteAsync(item.Partition, item.Event, destination.Name, $"destination kind {destination.Kind} is not available in this build", bytes, cancellationToken);
        return EventFate.DeadLettered;
    }
}
