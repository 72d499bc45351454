namespace ServerlessOtlp.Otlp.Wire;

// Writing one record: a resource's items of one partition, with their resource and scope prefixes, within the record budget.
public static partial class OtlpSplitter
{
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
            if (recordSize > maxRecordBytes)
            {
                if (included > 0)
                {
                    end = idx;
                    break;
                }

                // Alone with its resource and scope it is still larger than an event: reject it, never write it.
                result.AcceptedItems -= item.Count;
                result.RejectedItems += item.Count;
                result.OversizedItems += item.Count;
                idx = item.Next;
                first = idx;
                continue;
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

        if (included == 0)
        {
            return -1; // every remaining item was rejected
        }

        s.SetChunkScopePayload((int)curScopePayload);
        int resourcePayload = (int)(closed + ProtoWire.FieldSize((int)curScopePayload));

        // Write, within the output bound.
        var buffer = result.Buffer;
        if ((long)buffer.Length + ProtoWire.FieldSize(resourcePayload) > OutputBound(result.InputBytes))
        {
            throw new SplitTooLargeException(
                $"request would be larger than {OutputBound(result.InputBytes)} bytes once split by partition: its resource and scope attributes are copied into every event; send smaller resource attributes or fewer partitions' worth of items per request");
        }

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
}
