using System.Buffers;

using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Wire;

namespace ServerlessOtlp.Benchmarks.Otlp.Before;

// The splitter as it was before issue 14 (main at 07e3ee7), frozen so that its figures can be
// measured in the same run as today's. Not used by the product.

/// <summary>One output record of a split: a complete top-level <c>Resource{Spans,Metrics,Logs}</c> field.</summary>
internal readonly record struct SplitRecord(int Partition, int Offset, int Length, int Items);

/// <summary>
/// The outcome of splitting one export request: per-partition records in one pooled buffer.
/// Concatenating the records of a partition gives a valid export request of the same signal.
/// </summary>
internal sealed class SplitResult : IDisposable
{
    private SplitRecord[] _records = ArrayPool<SplitRecord>.Shared.Rent(16);

    internal SplitResult(int initialCapacity)
    {
        Buffer = new PooledBuffer(initialCapacity);
    }

    public PooledBuffer Buffer { get; }

    public int RecordCount { get; private set; }

    public ReadOnlySpan<SplitRecord> Records => _records.AsSpan(0, RecordCount);

    /// <summary>Items accepted (spans, metric data points, log records).</summary>
    public int AcceptedItems { get; internal set; }

    /// <summary>Items rejected (spans with an invalid trace id); reported as partial success.</summary>
    public int RejectedItems { get; internal set; }

    public string? RejectionMessage { get; internal set; }

    public ReadOnlyMemory<byte> RecordBytes(in SplitRecord record) => Buffer.WrittenMemory.Slice(record.Offset, record.Length);

    internal void Add(SplitRecord record)
    {
        if (RecordCount == _records.Length)
        {
            var bigger = ArrayPool<SplitRecord>.Shared.Rent(_records.Length * 2);
            _records.AsSpan(0, RecordCount).CopyTo(bigger);
            ArrayPool<SplitRecord>.Shared.Return(_records);
            _records = bigger;
        }

        _records[RecordCount++] = record;
    }

    public void Dispose()
    {
        Buffer.Dispose();
        if (_records.Length > 0)
        {
            ArrayPool<SplitRecord>.Shared.Return(_records);
            _records = [];
        }
    }
}

/// <summary>
/// Splits an OTLP export request by partition on the wire, without building the object graph.
/// Resource and scope bytes (unknown fields included) are copied as they are; each span moves to
/// the partition of its trace id (<see cref="PartitionFunction"/>); metrics follow their resource's
/// identity; log records follow their trace id when valid, else their resource's identity.
/// A (resource, partition) group larger than the record budget is cut into several records at
/// scope and item boundaries, so that an event never exceeds the log's size limit.
/// </summary>
internal static class OtlpSplitter
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

    [ThreadStatic]
    private static Scratch? t_scratch;

    /// <summary>Splits <paramref name="request"/>. Throws <see cref="InvalidDataException"/> when it is not a valid message.</summary>
    public static SplitResult Split(Signal signal, ReadOnlySpan<byte> request, int partitionCount, int maxRecordBytes = 900 * 1024)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partitionCount, 1);
        var result = new SplitResult((int)Math.Min(Array.MaxLength, request.Length + (request.Length / 8L) + OutputSlackBytes));
        var scratch = t_scratch ??= new Scratch();
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
                result.RejectionMessage = $"{result.RejectedItems} span(s) rejected: trace_id must be 16 bytes and not all zero";
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

    private static void SplitResource(Signal signal, ReadOnlySpan<byte> res, int partitionCount, int maxRecordBytes, Scratch s, SplitResult result)
    {
        s.Reset();
        int resourceStart = -1, resourceLength = 0;
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
            ulong hash = resourceStart >= 0 ? ResourceIdentityBefore.Hash(res.Slice(resourceStart, resourceLength)) : ResourceIdentityBefore.Hash(default);
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

    /// <summary>Writes one record for partition <paramref name="p"/> starting at item <paramref name="first"/>; returns the next item or -1.</summary>
    private static int WriteChunk(ReadOnlySpan<byte> res, int p, int first, int resPrefixLength, int maxRecordBytes, Scratch s, SplitResult result)
    {
        // Plan: how many items fit, and the payload size of each scope in this chunk.
        s.ChunkScopeCount = 0;
        long closed = resPrefixLength;
        int curScope = -1;
        long curScopePayload = 0;
        int idx = first;
        int end = -1;
        int items = 0;
        int included = 0;
        while (idx >= 0)
        {
            ref var item = ref s.Items[idx];
            long itemField = ProtoWire.FieldSize(item.Length);
            long newClosed = closed, newScopePayload;
            if (item.Scope != curScope)
            {
                if (curScope >= 0)
                {
                    newClosed += ProtoWire.FieldSize((int)curScopePayload);
                }

                newScopePayload = s.Scopes[item.Scope].PrefixLength + itemField;
            }
            else
            {
                newScopePayload = curScopePayload + itemField;
            }

            long recordSize = ProtoWire.FieldSize((int)Math.Min(int.MaxValue / 2, newClosed + ProtoWire.FieldSize((int)Math.Min(int.MaxValue / 2, newScopePayload))));
            if (included > 0 && recordSize > maxRecordBytes)
            {
                end = idx;
                break;
            }

            if (item.Scope != curScope)
            {
                if (curScope >= 0)
                {
                    s.SetChunkScopePayload((int)curScopePayload);
                }

                s.AddChunkScope(item.Scope);
                curScope = item.Scope;
            }

            closed = newClosed;
            curScopePayload = newScopePayload;
            included++;
            items += item.Count;
            idx = item.Next;
        }

        s.SetChunkScopePayload((int)curScopePayload);
        int resourcePayload = (int)(closed + ProtoWire.FieldSize((int)curScopePayload));

        // Write.
        var buffer = result.Buffer;
        int recordStart = buffer.Length;
        var span = buffer.GetSpan(ProtoWire.FieldSize(resourcePayload));
        int w = ProtoWire.WriteLengthDelimitedHeader(span, RequestResourceField, resourcePayload);
        for (int i = 0; i < s.ResourceRangeCount; i++)
        {
            var r = s.ResourceRanges[i];
            res.Slice(r.Start, r.Length).CopyTo(span[w..]);
            w += r.Length;
        }

        idx = first;
        for (int c = 0; c < s.ChunkScopeCount; c++)
        {
            int scopeIndex = s.ChunkScopes[c].Scope;
            int payload = s.ChunkScopes[c].Payload;
            w += ProtoWire.WriteLengthDelimitedHeader(span[w..], ResourceScopeField, payload);
            ref var scope = ref s.Scopes[scopeIndex];
            for (int i = scope.PrefixFirst; i < scope.PrefixFirst + scope.PrefixCount; i++)
            {
                var r = s.Ranges[i];
                res.Slice(r.Start, r.Length).CopyTo(span[w..]);
                w += r.Length;
            }

            while (idx != end && idx >= 0 && s.Items[idx].Scope == scopeIndex)
            {
                ref var item = ref s.Items[idx];
                w += ProtoWire.WriteLengthDelimitedHeader(span[w..], ScopeItemField, item.Length);
                res.Slice(item.Start, item.Length).CopyTo(span[w..]);
                w += item.Length;
                idx = item.Next;
            }
        }

        buffer.Advance(w);
        result.Add(new SplitRecord(p, recordStart, w, items));
        return end;
    }

    private sealed class Scratch
    {
        public const int TraceKeyed = -2;
        public const int ResourcePartition = -3;

        public Item[] Items = new Item[256];
        public int ItemCount;
        public ScopeInfo[] Scopes = new ScopeInfo[16];
        public int ScopeCount;
        public (int Start, int Length)[] Ranges = new (int, int)[64];
        public int RangeCount;
        public (int Start, int Length)[] ResourceRanges = new (int, int)[8];
        public int ResourceRangeCount;
        public int[] Heads = new int[64];
        public (int Scope, int Payload)[] ChunkScopes = new (int, int)[16];
        public int ChunkScopeCount;
        public bool ResourcePartitionNeeded;

        public void Reset()
        {
            ItemCount = 0;
            ScopeCount = 0;
            RangeCount = 0;
            ResourceRangeCount = 0;
            ResourcePartitionNeeded = false;
            // Keep scratch from pinning huge arrays after an unusual request.
            if (Items.Length > 65536)
            {
                Items = new Item[256];
            }
        }

        public void AddItem(in Item item)
        {
            if (ItemCount == Items.Length)
            {
                Array.Resize(ref Items, Items.Length * 2);
            }

            Items[ItemCount++] = item;
        }

        public int AddScope()
        {
            if (ScopeCount == Scopes.Length)
            {
                Array.Resize(ref Scopes, Scopes.Length * 2);
            }

            Scopes[ScopeCount] = default;
            return ScopeCount++;
        }

        public void AddRange(int start, int length)
        {
            if (RangeCount == Ranges.Length)
            {
                Array.Resize(ref Ranges, Ranges.Length * 2);
            }

            Ranges[RangeCount++] = (start, length);
        }

        public void AddResourceRange(int start, int length)
        {
            if (ResourceRangeCount == ResourceRanges.Length)
            {
                Array.Resize(ref ResourceRanges, ResourceRanges.Length * 2);
            }

            ResourceRanges[ResourceRangeCount++] = (start, length);
        }

        public void EnsureHeads(int partitions)
        {
            if (Heads.Length < partitions)
            {
                Heads = new int[partitions];
            }

            Heads.AsSpan(0, partitions).Fill(-1);
        }

        public void AddChunkScope(int scope)
        {
            if (ChunkScopeCount == ChunkScopes.Length)
            {
                Array.Resize(ref ChunkScopes, ChunkScopes.Length * 2);
            }

            ChunkScopes[ChunkScopeCount++] = (scope, 0);
        }

        public void SetChunkScopePayload(int payload)
        {
            if (ChunkScopeCount > 0)
            {
                ChunkScopes[ChunkScopeCount - 1].Payload = payload;
            }
        }

        public struct Item
        {
            public int Scope;
            public int Start;
            public int Length;
            public int Partition;
            public int TraceIdStart;
            public int Count;
            public int Next;
        }

        public struct ScopeInfo
        {
            public int PrefixFirst;
            public int PrefixCount;
            public int PrefixLength;
        }
    }
}

internal static class ResourceIdentityBefore
{
    private const ulong FnvOffset = 14695981039346656037UL;
    private const ulong FnvPrime = 1099511628211UL;
    private const int ResourceAttributesField = 1;
    private const int KeyValueKeyField = 1;
    private const int KeyValueValueField = 2;

    /// <summary>Hashes an encoded <c>Resource</c> message (empty = the empty resource).</summary>
    public static ulong Hash(ReadOnlySpan<byte> resource)
    {
        Span<Attr> small = stackalloc Attr[32];
        Attr[]? rented = null;
        Span<Attr> attrs = small;
        int count = 0;
        int pos = 0;
        while (ProtoWire.TryReadTag(resource, ref pos, out int field, out int wireType))
        {
            if (field == ResourceAttributesField && wireType == ProtoWire.WireLengthDelimited)
            {
                int len = ProtoWire.ReadLength(resource, ref pos);
                if (count == attrs.Length)
                {
                    var bigger = ArrayPool<Attr>.Shared.Rent(attrs.Length * 2);
                    attrs.CopyTo(bigger);
                    if (rented != null)
                    {
                        ArrayPool<Attr>.Shared.Return(rented);
                    }

                    rented = bigger;
                    attrs = bigger;
                }

                attrs[count++] = ParseKeyValue(resource, pos, len);
                pos += len;
            }
            else
            {
                ProtoWire.SkipValue(resource, ref pos, wireType);
            }
        }

        var used = attrs[..count];
        var source = resource;
        // Insertion sort: resources carry a handful to a few dozen attributes.
        for (int i = 1; i < used.Length; i++)
        {
            var x = used[i];
            int j = i - 1;
            while (j >= 0 && source.Slice(used[j].KeyStart, used[j].KeyLength).SequenceCompareTo(source.Slice(x.KeyStart, x.KeyLength)) > 0)
            {
                used[j + 1] = used[j];
                j--;
            }

            used[j + 1] = x;
        }

        ulong h = FnvOffset;
        foreach (var a in used)
        {
            h = Fnv(h, source.Slice(a.KeyStart, a.KeyLength));
            h = (h ^ 0xFF) * FnvPrime;
            h = Fnv(h, source.Slice(a.ValueStart, a.ValueLength));
            h = (h ^ 0xFE) * FnvPrime;
        }

        if (rented != null)
        {
            ArrayPool<Attr>.Shared.Return(rented);
        }

        return h;
    }

    private static Attr ParseKeyValue(ReadOnlySpan<byte> data, int start, int length)
    {
        var kv = data.Slice(start, length);
        var a = default(Attr);
        int pos = 0;
        while (ProtoWire.TryReadTag(kv, ref pos, out int field, out int wireType))
        {
            if (wireType == ProtoWire.WireLengthDelimited && (field == KeyValueKeyField || field == KeyValueValueField))
            {
                int len = ProtoWire.ReadLength(kv, ref pos);
                if (field == KeyValueKeyField)
                {
                    a.KeyStart = start + pos;
                    a.KeyLength = len;
                }
                else
                {
                    a.ValueStart = start + pos;
                    a.ValueLength = len;
                }

                pos += len;
            }
            else
            {
                ProtoWire.SkipValue(kv, ref pos, wireType);
            }
        }

        return a;
    }

    private static ulong Fnv(ulong h, ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
        {
            h = (h ^ b) * FnvPrime;
        }

        return h;
    }

    private struct Attr
    {
        public int KeyStart;
        public int KeyLength;
        public int ValueStart;
        public int ValueLength;
    }
}
