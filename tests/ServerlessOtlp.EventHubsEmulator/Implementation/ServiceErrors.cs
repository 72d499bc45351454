using Microsoft.Azure.Amqp;
using Microsoft.Azure.Amqp.Encoding;

namespace ServerlessOtlp.EventHubsEmulator.Implementation;

/// <summary>
/// The errors the service answers with, phrased so that Azure.Messaging.EventHubs 5.12 (AmqpError.CreateException)
/// maps each to the same FailureReason the real service produces.
/// </summary>
internal static class ServiceErrors
{
    /// <summary>The service's condition for an invalid partition id; the SDK raises ArgumentOutOfRangeException.</summary>
    public static readonly AmqpSymbol ArgumentOutOfRange = "com.microsoft:argument-out-of-range";

    /// <summary>The SDK only reads ResourceNotFound from amqp:not-found when the text matches "The messaging entity .* could not be found".</summary>
    public static AmqpException EntityNotFound(string entity) =>
        new(AmqpErrorCode.NotFound, NotFoundDescription(entity));

    public static string NotFoundDescription(string entity) =>
        $"The messaging entity '{entity}' could not be found.";

    public static AmqpException InvalidPartition(string partitionId, int partitionCount) =>
        new(ArgumentOutOfRange,
            $"The specified partition '{partitionId}' is invalid for an EventHub partition sender or receiver. It should be between 0 and {partitionCount - 1}.");

    /// <summary>amqp:link:stolen is ConsumerDisconnected in the SDK, both for a detach and for a refused attach.</summary>
    public static AmqpException Displaced(long ownerLevel, string partitionId, string consumerGroup) =>
        new(AmqpErrorCode.Stolen,
            $"New receiver with higher epoch of '{ownerLevel}' is created hence current receiver is getting disconnected. " +
            $"Partition '{partitionId}', consumer group '{consumerGroup}'.");

    public static AmqpException LowerOwnerLevel(long? requested, long current, string partitionId, string consumerGroup) =>
        new(AmqpErrorCode.Stolen,
            $"Receiver with epoch '{requested?.ToString() ?? "none"}' cannot be created because a receiver with epoch '{current}' " +
            $"already exists for partition '{partitionId}' in consumer group '{consumerGroup}'.");

    /// <summary>amqp:resource-limit-exceeded is QuotaExceeded in the SDK.</summary>
    public static AmqpException ReaderQuota(int limit, string partitionId, string consumerGroup) =>
        new(AmqpErrorCode.ResourceLimitExceeded,
            $"Exceeded the maximum number of allowed receivers per partition in a consumer group which is {limit}. " +
            $"Partition '{partitionId}', consumer group '{consumerGroup}'.");

    public static AmqpException MessageTooLarge(long size, long limit) =>
        new(AmqpErrorCode.MessageSizeExceeded,
            $"The received message (size {size} bytes) exceeds the limit ({limit} bytes) currently allowed on the link.");
}
