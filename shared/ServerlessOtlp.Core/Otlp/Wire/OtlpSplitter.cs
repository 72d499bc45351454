using System.Buffers;

namespace ServerlessOtlp.Otlp.Wire;

/// <summary>
/// Splits an OTLP export request by partition on the wire, without building the object graph.
/// Resource and scope bytes (unknown fields included) are copied as they are; each span moves to
/// the partition of its trace id (<see cref="PartitionFunction"/>); metrics follow their resource's
/// identity; log records follow their trace id when valid, else their resource's identity.
/// A (resource, partition) group larger than the record budget is cut into several records at
/// scope and item boundaries, so that an event never exceeds the log's size limit; an item that does
/// not fit a record even alone with its resource and scope is rejected (partial success).
/// <para>Every record repeats its resource and scope, so a request with large resource or scope
/// attributes spread over many partitions, or cut into many records, is larger once split. The output
/// is bounded by <see cref="OutputBound"/> (twice the input plus 1 MiB): past it the request is refused
/// as too large, before any memory beyond the bound is asked for. An SDK's request (a few KB of
/// resource, hundreds of spans) splits into about its own size plus one resource per partition.</para>
/// </summary>
public static partial class OtlpSplitter
{
    // Field numbers shared by the three signals in opentelemetry-proto v1:
    // Export*ServiceRequest.resource_* = 1, Resource*.resource = 1, Resource*.scope_* = 2,
    // Scope*.spans|metrics|log_records = 2.
    private const int RequestResourceField = 1;
    private const int ResourceField = 1;
    private const int ResourceScopeField = 2;
    private const int ScopeItemField = 2;
    private const int SpanTraceIdField = 1;
    private const int LogRecordTraceIdField = 9;

    // The output is the input plus one copy of the resource and scope prefixes per record; sizing
    // the buffer for that up front saves the grow-and-copy steps (six of them for a 400 KB request).
    private const int OutputSlackBytes = 4096;

    /// <summary>The split of a request may be this many times the request's size (plus <see cref="OutputAllowanceBytes"/>).</summary>
    public const int MaxOutputFactor = 2;

    /// <summary>Room for one resource copy per partition whatever the request's size: 32 partitions × 32 KB of attributes.</summary>
    public const int OutputAllowanceBytes = 1024 * 1024;

    /// <summary>
    /// Items (spans, metrics, log records) in one request. The splitter holds 28 bytes of bookkeeping per
    /// item and an empty log record is 2 bytes on the wire, so this caps that at 28 MB; SDKs send 512
    /// per request and the Collector's batch processor 8192 by default.
    /// </summary>
    public const int MaxItemsPerRequest = 1_000_000;

    /// <summary>The most bytes the split of a request of <paramref name="requestBytes"/> may produce.</summary>
    public static int OutputBound(int requestBytes) =>
        (int)Math.Min(Array.MaxLength, ((long)requestBytes * MaxOutputFactor) + OutputAllowanceBytes);

    [ThreadStatic]
    private static Scratch? t_scratch;

    /// <summary>Splits <paramref name="request"/>. Throws <see cref="InvalidDataException"/> when it is not a valid message.</summary>
    public static SplitResult Split(Signal signal, ReadOnlySpan<byte> request, int partitionCount, int maxRecordBytes = 900 * 1024)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partitionCount, 1);
        int bound = OutputBound(request.Length);
        var result = new SplitResult((int)Math.Min(bound, request.Length + (request.Length / 8L) + OutputSlackBytes), bound);
        var scratch = t_scratch ??= new Scratch();
        scratch.TotalItems = 0;
        result.InputBytes = request.Length;
        try
        {
            int pos = 0;
            while (pos < request.Length)
            {
                var f = ProtoWire.ReadField(request, pos);
                if (f.Number == RequestResourceField && f.WireType == ProtoWire.WireLengthDelimited)
                {
                    SplitResource(signal, request[f.ValueStart..f.End], partitionCount, maxRecordBytes, scratch, result);
                }

                // Any other top-level field has no partition to go to; it carries no telemetry.
                pos = f.End;
            }

            if (result.RejectedItems > 0)
            {
                result.RejectionMessage = RejectionMessage(signal, result.RejectedItems - result.OversizedItems, result.OversizedItems, maxRecordBytes);
            }

            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
        finally
        {
            scratch.Reset();
        }
    }

    private static string RejectionMessage(Signal signal, int invalidTraceIds, int oversized, int maxRecordBytes)
    {
        string items = signal switch
        {
            Signal.Traces => "span(s)",
            Signal.Metrics => "data point(s)",
            _ => "log record(s)",
        };
        string invalid = invalidTraceIds > 0 ? $"{invalidTraceIds} {items} rejected: trace_id must be 16 bytes and not all zero" : "";
        string large = oversized > 0 ? $"{oversized} {items} rejected: larger than an event ({maxRecordBytes} bytes) holds with their resource and scope" : "";
        return invalid.Length > 0 && large.Length > 0 ? invalid + "; " + large : invalid + large;
    }

    private static void SplitResource(Signal signal, ReadOnlySpan<byte> res, int partitionCount, int maxRecordBytes, Scratch s, SplitResult result)
    {
        s.Reset();
        int resourceStart = -1, resourceLength = 0, resourceFields = 0;
        int pos = 0;
        while (pos < res.Length)
        {
            var f = ProtoWire.ReadField(res, pos);
            if (f.Number == ResourceScopeField && f.WireType == ProtoWire.WireLengthDelimited)
            {
                ParseScope(signal, res, f.ValueStart, f.ValueLength, s, result);
            }
            else
            {
                if (f.Number == ResourceField && f.WireType == ProtoWire.WireLengthDelimited)
                {
                    resourceStart = f.ValueStart;
                    resourceLength = f.ValueLength;
                    resourceFields++;
                }

                s.AddResourceRange(pos, f.End - pos);
            }

            pos = f.End;
        }

        int resPrefixLength = 0;
        for (int i = 0; i < s.ResourceRangeCount; i++)
        {
            resPrefixLength += s.ResourceRanges[i].Length;
        }

        // Items that follow the resource identity get their partition now, computed once per resource.
        if (s.ResourcePartitionNeeded)
        {
            ulong hash = resourceFields > 1 ? MergedResourceHash(res, s)
                : resourceStart >= 0 ? ResourceIdentity.Hash(res.Slice(resourceStart, resourceLength))
                : ResourceIdentity.Hash(default);
            int p = PartitionFunction.ForResourceHash(hash, partitionCount);
            for (int i = 0; i < s.ItemCount; i++)
            {
                if (s.Items[i].Partition == Scratch.ResourcePartition)
                {
                    s.Items[i].Partition = p;
                }
            }
        }

        // Trace-keyed items carry their raw key until now: map them to partitions and link each partition's items.
        s.EnsureHeads(partitionCount);
        for (int i = s.ItemCount - 1; i >= 0; i--)
        {
            ref var item = ref s.Items[i];
            if (item.Partition == Scratch.TraceKeyed)
            {
                item.Partition = PartitionFunction.ForTraceId(res.Slice(item.TraceIdStart, 16), partitionCount);
            }

            if (item.Partition < 0)
            {
                continue;
            }

            item.Next = s.Heads[item.Partition];
            s.Heads[item.Partition] = i;
        }

        for (int p = 0; p < partitionCount; p++)
        {
            int idx = s.Heads[p];
            while (idx >= 0)
            {
                idx = WriteChunk(res, p, idx, resPrefixLength, maxRecordBytes, s, result);
            }
        }
    }

    /// <summary>
    /// Several <c>resource</c> fields are one merged resource to a decoder, and the merge of embedded
    /// messages is the concatenation of their bytes: hash that, as the drain will see it (rare: a copy).
    /// </summary>
    private static ulong MergedResourceHash(ReadOnlySpan<byte> res, Scratch s)
    {
        int total = 0;
        for (int i = 0; i < s.ResourceRangeCount; i++)
        {
            total += s.ResourceRanges[i].Length;
        }

        byte[] merged = ArrayPool<byte>.Shared.Rent(total);
        try
        {
            int w = 0;
            for (int i = 0; i < s.ResourceRangeCount; i++)
            {
                var field = ProtoWire.ReadField(res, s.ResourceRanges[i].Start);
                if (field.Number == ResourceField && field.WireType == ProtoWire.WireLengthDelimited)
                {
                    res[field.ValueStart..field.End].CopyTo(merged.AsSpan(w));
                    w += field.ValueLength;
                }
            }

            return ResourceIdentity.Hash(merged.AsSpan(0, w));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(merged);
        }
    }

    private static void ParseScope(Signal signal, ReadOnlySpan<byte> res, int start, int length, Scratch s, SplitResult result)
    {
        int scopeIndex = s.AddScope();
        s.Scopes[scopeIndex].PrefixFirst = s.RangeCount;
        var scope = res.Slice(start, length);
        int pos = 0;
        while (pos < scope.Length)
        {
            var f = ProtoWire.ReadField(scope, pos);
            if (f.Number == ScopeItemField && f.WireType == ProtoWire.WireLengthDelimited)
            {
                ClassifyItem(signal, res, start + f.ValueStart, f.ValueLength, scopeIndex, s, result);
            }
            else
            {
                s.AddRange(start + pos, f.End - pos);
                s.Scopes[scopeIndex].PrefixLength += f.End - pos;
            }

            pos = f.End;
        }

        s.Scopes[scopeIndex].PrefixCount = s.RangeCount - s.Scopes[scopeIndex].PrefixFirst;
    }

    private static void ClassifyItem(Signal signal, ReadOnlySpan<byte> res, int start, int length, int scopeIndex, Scratch s, SplitResult result)
    {
        var item = res.Slice(start, length);
        int partition;
        int traceIdStart = 0;
        int count = 1;
        switch (signal)
        {
            case Signal.Traces:
            {
                var traceId = FindBytesField(item, SpanTraceIdField, out int offset);
                if (!PartitionFunction.IsValidTraceId(traceId))
                {
                    result.RejectedItems++;
                    return;
                }

                partition = Scratch.TraceKeyed;
                traceIdStart = start + offset;
                break;
            }

            case Signal.Logs:
            {
                var traceId = FindBytesField(item, LogRecordTraceIdField, out int offset);
                if (PartitionFunction.IsValidTraceId(traceId))
                {
                    partition = Scratch.TraceKeyed;
                    traceIdStart = start + offset;
                }
                else
                {
                    partition = Scratch.ResourcePartition;
                    s.ResourcePartitionNeeded = true;
                }

                break;
            }

            default:
                count = MetricDataPoints.Count(item);
                partition = Scratch.ResourcePartition;
                s.ResourcePartitionNeeded = true;
                break;
        }

        if (s.TotalItems++ >= MaxItemsPerRequest)
        {
            throw new SplitTooLargeException($"request holds more than {MaxItemsPerRequest} items; send smaller batches");
        }

        result.AcceptedItems += count;
        s.AddItem(new Scratch.Item
        {
            Scope = scopeIndex,
            Start = start,
            Length = length,
            Partition = partition,
            TraceIdStart = traceIdStart,
            Count = count,
            Next = -1,
        });
    }

    /// <summary>Walks a message's top-level fields (validating them) and returns the last value of a bytes field.</summary>
    private static ReadOnlySpan<byte> FindBytesField(ReadOnlySpan<byte> message, int wanted, out int offset)
    {
        int foundStart = 0, foundLength = 0;
        int pos = 0;
        while (pos < message.Length)
        {
            var f = ProtoWire.ReadField(message, pos);
            if (f.Number == wanted && f.WireType == ProtoWire.WireLengthDelimited)
            {
                foundStart = f.ValueStart;
                foundLength = f.ValueLength;
            }

            pos = f.End;
        }

        offset = foundStart;
        return message.Slice(foundStart, foundLength);
    }
}
