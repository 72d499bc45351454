using Microsoft.Azure.Amqp;
using Microsoft.Azure.Amqp.Encoding;

namespace ServerlessOtlp.EventHubsEmulator.Implementation;

/// <summary>The annotation names the service stamps on every event (AmqpProperty in the SDK).</summary>
internal static class EventAnnotations
{
    public static readonly AmqpSymbol SequenceNumber = "x-opt-sequence-number";
    public static readonly AmqpSymbol Offset = "x-opt-offset";
    public static readonly AmqpSymbol EnqueuedTime = "x-opt-enqueued-time";
    public static readonly AmqpSymbol PartitionKey = "x-opt-partition-key";

    // Delivery annotations for receivers that desire com.microsoft:enable-receiver-runtime-metric.
    public static readonly AmqpSymbol LastEnqueuedSequenceNumber = "last_enqueued_sequence_number";
    public static readonly AmqpSymbol LastEnqueuedOffset = "last_enqueued_offset";
    public static readonly AmqpSymbol LastEnqueuedTimeUtc = "last_enqueued_time_utc";
    public static readonly AmqpSymbol RetrievalTimeUtc = "runtime_info_retrieval_time_utc";
}

/// <summary>
/// One event as a publisher sent it: its encoded AMQP message, kept byte for byte so that properties,
/// application properties and body reach readers exactly as they were sent.
/// </summary>
internal sealed class IncomingEvent(ArraySegment<byte> encoded, string? partitionKey)
{
    public string? PartitionKey { get; } = partitionKey;

    /// <summary>The size the offset advances by: the event's size as the publisher encoded it.</summary>
    public int Size => encoded.Count;

    /// <summary>Re-encodes the message with the service's annotations; only the annotation sections are rewritten.</summary>
    public StoredEvent Seal(long sequenceNumber, long offset, DateTimeOffset enqueuedTime)
    {
        var source = new BufferListStream([encoded]);
        using AmqpMessage message = AmqpMessage.CreateOutputMessage(source, ownStream: true);
        var annotations = message.MessageAnnotations.Map;
        annotations[EventAnnotations.SequenceNumber] = sequenceNumber;
        annotations[EventAnnotations.Offset] = offset.ToString(System.Globalization.CultureInfo.InvariantCulture);
        annotations[EventAnnotations.EnqueuedTime] = enqueuedTime.UtcDateTime;
        if (PartitionKey is not null)
        {
            annotations[EventAnnotations.PartitionKey] = PartitionKey;
        }

        using Stream stream = message.ToStream();
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return new StoredEvent(sequenceNumber, offset, enqueuedTime, bytes);
    }
}

/// <summary>An event in a partition: its position and the encoded message a reader receives.</summary>
internal sealed record StoredEvent(long SequenceNumber, long Offset, DateTimeOffset EnqueuedTime, byte[] Encoded)
{
    public string OffsetString => Offset.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
