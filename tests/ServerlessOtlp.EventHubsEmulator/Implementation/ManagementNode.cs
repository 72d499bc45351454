using Microsoft.Azure.Amqp;
using Microsoft.Azure.Amqp.Encoding;

namespace ServerlessOtlp.EventHubsEmulator.Implementation;

/// <summary>
/// The $management node's READ operations. The SDK casts each value to one type, so the types are exact:
/// partition_ids an AMQP array of strings, sequence numbers longs, the offset a string, times timestamps.
/// </summary>
internal sealed class ManagementNode(EventHub hub, Func<Uri> endpoint, TimeProvider time, EmulatorLog log) : RequestResponseNode("$management", log)
{
    private const string EventHubType = "com.microsoft:eventhub";
    private const string PartitionType = "com.microsoft:partition";

    protected override AmqpMessage Handle(AmqpMessage request)
    {
        var properties = request.ApplicationProperties?.Map;
        string? operation = null, type = null, name = null, partitionId = null;
        properties?.TryGetValue("operation", out operation);
        properties?.TryGetValue("type", out type);
        properties?.TryGetValue("name", out name);
        properties?.TryGetValue("partition", out partitionId);

        if (operation != "READ" || (type != EventHubType && type != PartitionType))
        {
            return Response(501, $"The operation '{operation}' on '{type}' is not supported.");
        }

        if (!string.Equals(name, hub.Name, StringComparison.OrdinalIgnoreCase))
        {
            return Response(404, ServiceErrors.NotFoundDescription($"{endpoint()}{name}"));
        }

        if (type == EventHubType)
        {
            return Response(200, "OK", new AmqpMap
            {
                [new MapKey("name")] = hub.Name,
                [new MapKey("created_at")] = hub.CreatedAt.UtcDateTime,
                [new MapKey("partition_ids")] = hub.PartitionIds,
            });
        }

        PartitionLog? partition = partitionId is null ? null : hub.FindPartition(partitionId);
        if (partition is null)
        {
            return Response(404, ServiceErrors.NotFoundDescription($"{endpoint()}{hub.Name}/Partitions/{partitionId}"));
        }

        PartitionState state = partition.Describe();
        return Response(200, "OK", new AmqpMap
        {
            [new MapKey("name")] = hub.Name,
            [new MapKey("partition")] = partition.Id,
            [new MapKey("begin_sequence_number")] = state.BeginSequenceNumber,
            [new MapKey("last_enqueued_sequence_number")] = state.LastEnqueuedSequenceNumber,
            [new MapKey("last_enqueued_offset")] = state.LastEnqueuedOffset.ToString(System.Globalization.CultureInfo.InvariantCulture),
            [new MapKey("last_enqueued_time_utc")] = state.LastEnqueuedTime.UtcDateTime,
            [new MapKey("is_partition_empty")] = state.IsEmpty,
            [new MapKey("runtime_info_retrieval_time_utc")] = time.GetUtcNow().UtcDateTime,
        });
    }
}
