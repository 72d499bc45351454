using Microsoft.Azure.Amqp;
using Microsoft.Azure.Amqp.Framing;

namespace ServerlessOtlp.EventHubsEmulator.Implementation;

/// <summary>
/// A producer's link to the hub or to one partition. Each transfer is one event, or a batch (message format
/// 0x80013700) whose data sections are encoded events; a batch lands in one partition, contiguously.
/// </summary>
internal sealed class Publisher
{
    /// <summary>The batch message format the SDKs send (AmqpConstants.AmqpBatchedMessageFormat).</summary>
    public const uint BatchMessageFormat = 0x80013700;

    /// <summary>Transfers a publisher may have in flight: bounds what one connection buffers here.</summary>
    private const uint Credit = 100;

    /// <summary>
    /// Oversized messages up to this multiple of the advertised limit are received and rejected with
    /// amqp:link:message-size-exceeded; beyond it the AMQP stack stops the transfer and ends the session.
    /// </summary>
    private const long HardLimitMultiple = 4;

    private readonly ReceivingAmqpLink link;
    private readonly EventHub hub;
    private readonly PartitionLog? partition;
    private readonly long maxMessageSize;
    private readonly EmulatorLog log;

    public Publisher(ReceivingAmqpLink link, EventHub hub, PartitionLog? partition, long maxMessageSize, EmulatorLog log)
    {
        this.link = link;
        this.hub = hub;
        this.partition = partition;
        this.maxMessageSize = maxMessageSize;
        this.log = log;
    }

    public void Attach()
    {
        // The SDK sizes batches from the max-message-size in our attach; without it batches break.
        link.Settings.MaxMessageSize = (ulong)maxMessageSize;

        // Answer no capabilities: idempotent publishing and geo-replication are not emulated, and echoing the
        // client's wishes back would read as the service having them.
        link.Settings.DesiredCapabilities = null;
        link.SetTotalLinkCredit(Credit, applyNow: true);
        link.Opened += (_, _) => link.Settings.MaxMessageSize = (ulong)(maxMessageSize * HardLimitMultiple);
        link.RegisterMessageListener(OnMessage);
    }

    private void OnMessage(AmqpMessage message)
    {
        try
        {
            long size = message.SerializedMessageSize;
            if (size > maxMessageSize)
            {
                Settle(message, new Rejected { Error = ServiceErrors.MessageTooLarge(size, maxMessageSize).Error });
                return;
            }

            string? partitionKey = ReadPartitionKey(message);
            List<IncomingEvent> events = [];
            if (message.MessageFormat == BatchMessageFormat)
            {
                foreach (Data section in message.DataBody ?? [])
                {
                    events.Add(new IncomingEvent((ArraySegment<byte>)section.Value, partitionKey));
                }
            }
            else
            {
                events.Add(new IncomingEvent(ReadAll(message), partitionKey));
            }

            PartitionLog target = partition ?? hub.ChoosePartition(partitionKey);
            target.Append(events);
            Settle(message, AmqpConstants.AcceptedOutcome);
        }
        catch (Exception exception)
        {
            log.Error($"publish to '{link.Settings.Target}' failed", exception);
            Settle(message, new Rejected { Error = new Error { Condition = AmqpErrorCode.DecodeError, Description = exception.Message } });
        }
        finally
        {
            message.Dispose();
        }
    }

    private void Settle(AmqpMessage message, Outcome outcome)
    {
        if (!message.Settled)
        {
            link.DisposeMessage(message, outcome, settled: true, batchable: false);
        }
    }

    private static string? ReadPartitionKey(AmqpMessage message) =>
        message.MessageAnnotations.Map.TryGetValue(EventAnnotations.PartitionKey, out string? key) && !string.IsNullOrEmpty(key)
            ? key
            : null;

    private static ArraySegment<byte> ReadAll(AmqpMessage message)
    {
        Stream stream = message.ToStream();
        stream.Position = 0;
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }
}
