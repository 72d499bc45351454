using System.Buffers.Binary;
using System.Globalization;
using Microsoft.Azure.Amqp;

namespace ServerlessOtlp.EventHubsEmulator.Implementation;

/// <summary>
/// A consumer's link on one partition: pushes events from its position as they arrive, never more than the
/// credit the client granted, so a slow reader holds no more than its prefetch in flight.
/// </summary>
internal sealed class PartitionReader
{
    /// <summary>Events taken from the log per pass: bounds the time the partition lock is held.</summary>
    private const int EventsPerPass = 64;

    private const int Idle = 0;
    private const int Pumping = 1;
    private const int PumpRequested = 2;

    private readonly SendingAmqpLink link;
    private readonly PartitionLog partition;
    private readonly ReaderOwnership ownership;
    private readonly bool reportsRuntimeMetric;
    private readonly TimeProvider time;
    private readonly EmulatorLog log;
    private readonly object pumpGate = new();
    private StartPosition? start;
    private long nextSequenceNumber;
    private long credit;
    private int pumpState;
    private long deliveryTag;
    private volatile bool closed;

    public PartitionReader(
        SendingAmqpLink link,
        PartitionLog partition,
        ReaderOwnership ownership,
        long? ownerLevel,
        StartPosition start,
        bool reportsRuntimeMetric,
        TimeProvider time,
        EmulatorLog log)
    {
        this.link = link;
        this.partition = partition;
        this.ownership = ownership;
        this.start = start;
        this.reportsRuntimeMetric = reportsRuntimeMetric;
        this.time = time;
        this.log = log;
        OwnerLevel = ownerLevel;
    }

    public long? OwnerLevel { get; }

    /// <summary>
    /// Takes its place among the partition's readers, or throws the service's refusal; readers it
    /// displaces are detached with amqp:link:stolen.
    /// </summary>
    public void Attach()
    {
        // Registered first: a client that vanishes mid-attach must still release its place.
        link.SafeAddClosed(OnLinkClosed);
        PartitionReader[] displaced = ownership.Admit(this);
        partition.Subscribe(this);
        if (closed)
        {
            Release();
        }

        link.RegisterCreditListener(OnCredit);

        // Only a reader with an owner level displaces others.
        foreach (PartitionReader reader in displaced)
        {
            reader.link.SafeClose(ServiceErrors.Displaced(OwnerLevel.GetValueOrDefault(), ownership.PartitionId, ownership.ConsumerGroup));
        }
    }

    /// <summary>Asks for a pass over the partition; passes run one at a time on the thread pool.</summary>
    public void RequestPump()
    {
        while (!closed)
        {
            int state = Volatile.Read(ref pumpState);
            if (state == PumpRequested)
            {
                return;
            }

            if (Interlocked.CompareExchange(ref pumpState, state + 1, state) == state)
            {
                if (state == Idle)
                {
                    ThreadPool.UnsafeQueueUserWorkItem(static reader => reader.RunPasses(), this, preferLocal: false);
                }

                return;
            }
        }
    }

    private void RunPasses()
    {
        do
        {
            Volatile.Write(ref pumpState, Pumping);
            Pump();
        }
        while (Interlocked.CompareExchange(ref pumpState, Idle, Pumping) != Pumping);
    }

    private void OnCredit(uint added, bool drain, ArraySegment<byte> transactionId)
    {
        Interlocked.Add(ref credit, added);
        if (drain)
        {
            // Drain asks for what is available now and then no more: send it inline, then forget the rest.
            Pump();
            Interlocked.Exchange(ref credit, 0);
            return;
        }

        RequestPump();
    }

    private void Pump()
    {
        lock (pumpGate)
        {
            try
            {
                var batch = new List<StoredEvent>(EventsPerPass);
                while (!closed && Interlocked.Read(ref credit) > 0)
                {
                    batch.Clear();
                    int wanted = (int)Math.Min(Interlocked.Read(ref credit), EventsPerPass);
                    if (partition.Read(nextSequenceNumber, start, batch, wanted) == 0)
                    {
                        return;
                    }

                    // Positions only grow, so once one event is admitted every later one is.
                    start = null;
                    PartitionState? state = reportsRuntimeMetric ? partition.Describe() : null;
                    foreach (StoredEvent stored in batch)
                    {
                        link.SendMessageNoWait(CreateDelivery(stored, state), NextDeliveryTag(), AmqpConstants.NullBinary);
                        nextSequenceNumber = stored.SequenceNumber + 1;
                        Interlocked.Decrement(ref credit);
                        ownership.CountDelivery();
                    }
                }
            }
            catch (Exception exception) when (exception is InvalidOperationException or ObjectDisposedException or AmqpException)
            {
                // The link is closing under us; OnLinkClosed releases the partition.
                closed = true;
            }
            catch (Exception exception)
            {
                log.Error($"reader on partition {partition.Id} failed", exception);
                link.SafeClose(new AmqpException(AmqpErrorCode.InternalError, "The emulator failed to deliver an event."));
            }
        }
    }

    private AmqpMessage CreateDelivery(StoredEvent stored, PartitionState? state)
    {
        var encoded = new BufferListStream([new ArraySegment<byte>(stored.Encoded)]);
        if (state is not { } partitionState)
        {
            return AmqpMessage.CreateAmqpStreamMessage(encoded, payloadInitialized: true);
        }

        // Only the annotation sections are re-encoded; the rest of the stored bytes go out as they are.
        AmqpMessage message = AmqpMessage.CreateOutputMessage(encoded, ownStream: true);
        var annotations = message.DeliveryAnnotations.Map;
        annotations[EventAnnotations.LastEnqueuedSequenceNumber] = partitionState.LastEnqueuedSequenceNumber;
        annotations[EventAnnotations.LastEnqueuedOffset] = partitionState.LastEnqueuedOffset.ToString(CultureInfo.InvariantCulture);
        annotations[EventAnnotations.LastEnqueuedTimeUtc] = partitionState.LastEnqueuedTime.UtcDateTime;
        annotations[EventAnnotations.RetrievalTimeUtc] = time.GetUtcNow().UtcDateTime;
        return message;
    }

    private ArraySegment<byte> NextDeliveryTag()
    {
        var tag = new byte[sizeof(long)];
        BinaryPrimitives.WriteInt64LittleEndian(tag, Interlocked.Increment(ref deliveryTag));
        return tag;
    }

    private void OnLinkClosed(object? sender, EventArgs args)
    {
        closed = true;
        Release();
    }

    private void Release()
    {
        partition.Unsubscribe(this);
        ownership.Remove(this);
    }
}
