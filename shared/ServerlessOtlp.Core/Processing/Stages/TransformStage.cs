using Google.Protobuf;
using ServerlessOtlp.Pipeline;

namespace ServerlessOtlp.Processing.Stages;

/// <summary>
/// The tenant's redaction, OTTL transforms and filters on the decoded request, in place. A failed
/// transform (error_mode propagate) dead-letters the bytes as they were before it; a request whose
/// items were all filtered out ends here with the fate so far.
/// </summary>
internal sealed class TransformStage(TenantTransformer transformer, DeadLettering deadLetters, IDrainStage next) : IDrainStage
{
    public Task<EventFate> ProcessAsync(EventContext item, CancellationToken cancellationToken)
    {
        var signal = item.Properties.Signal;
        if (!TenantTransformer.HasWork(item.Tenant, signal))
        {
            return next.ProcessAsync(item, cancellationToken);
        }

        var transformed = transformer.Apply(item.Tenant, signal, item.Message!);
        if (transformed.Failed)
        {
            item.WorkDone(); // the dead letter is not local work
            return DeadLetterAsync(item, "transform failed: " + transformed.Error, cancellationToken);
        }

        if (transformed.ItemsOut == 0)
        {
            return EventContext.Completed(item.Fate);
        }

        item.Bytes = item.Message!.ToByteArray();
        return next.ProcessAsync(item, cancellationToken);
    }

    private async Task<EventFate> DeadLetterAsync(EventContext item, string reason, CancellationToken cancellationToken)
    {
        await deadLetters.WriteAsync(item.Partition, item.Event, null, reason, item.Bytes, cancellationToken);
        return EventFate.DeadLettered;
    }
}
