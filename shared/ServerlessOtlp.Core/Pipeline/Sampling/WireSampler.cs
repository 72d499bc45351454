using System.Text;
using ServerlessOtlp.Otlp.Wire;

namespace ServerlessOtlp.Pipeline.Sampling;

/// <summary>
/// Applies a <see cref="TraceSampler"/> to an encoded ExportTraceServiceRequest without decoding
/// it: each span's trace_id and trace_state are read on the wire, dropped spans are skipped as
/// bytes, kept spans are copied (with trace_state rewritten to carry <c>ot=th</c>), and resources
/// or scopes left empty are removed. Unknown fields are preserved.
/// </summary>
internal static class WireSampler
{
    // ResourceLogs, ScopeLogs and log records use the same field numbers as their trace counterparts;
    // a log record has its trace id at 9 and no trace state (0: no field has that number).
    private static readonly SignalFields Traces = new(Resources: 1, Scopes: 2, Items: 2, TraceId: 1, TraceState: 3);
    private static readonly SignalFields Logs = new(Resources: 1, Scopes: 2, Items: 2, TraceId: 9, TraceState: 0);

    public readonly record struct Counts(int Kept, int Dropped);

    /// <summary>
    /// A signal's field numbers: the request's resources, a resource's scopes, a scope's items, and an
    /// item's trace id and trace state. Passed by reference down one walk for both signals (no delegate).
    /// </summary>
    private readonly record struct SignalFields(int Resources, int Scopes, int Items, int TraceId, int TraceState)
    {
        public bool HasTraceState => TraceState != 0;
    }

    /// <summary>Samples <paramref name="request"/> into <paramref name="output"/>.</summary>
    public static Counts SampleTraces(ReadOnlySpan<byte> request, TraceSampler sampler, PooledBuffer output) =>
        Sample(request, sampler, output, Traces);

    /// <summary>
    /// Samples an encoded ExportLogsServiceRequest by trace id: a record with a valid trace id is
    /// kept iff that trace's spans are (randomness from the id's low 56 bits; logs carry no trace
    /// state); a record without one is kept.
    /// </summary>
    public static Counts SampleLogs(ReadOnlySpan<byte> request, TraceSampler sampler, PooledBuffer output) =>
        Sample(request, sampler, output, Logs);

    private static Counts Sample(ReadOnlySpan<byte> request, TraceSampler sampler, PooledBuffer output, in SignalFields signal)
    {
        int kept = 0, dropped = 0;
        CopyLevel(request, Level.Request, signal, sampler, output, ref kept, ref dropped);
        return new Counts(kept, dropped);
    }

    /// <summary>The request, a resource, a scope: each nests the next at one field number.</summary>
    private enum Level
    {
        Request,
        Resource,
        Scope,
    }

    /// <summary>
    /// Copies one level: its nested messages are filtered one level down (a resource or scope left with
    /// no item is dropped whole), items are kept or dropped by the sampler, other fields copied as they are.
    /// </summary>
    private static void CopyLevel(ReadOnlySpan<byte> message, Level level, in SignalFields signal, TraceSampler sampler, PooledBuffer output, ref int kept, ref int dropped)
    {
        int nested = level switch
        {
            Level.Request => signal.Resources,
            Level.Resource => signal.Scopes,
            _ => signal.Items,
        };
        int pos = 0;
        while (true)
        {
            int tagStart = pos;
            if (!ProtoWire.TryReadTag(message, ref pos, out int field, out int wireType))
            {
                return;
            }

            if (field != nested || wireType != ProtoWire.WireLengthDelimited)
            {
                ProtoWire.SkipValue(message, ref pos, wireType);
                output.Write(message[tagStart..pos]);
                continue;
            }

            int len = ProtoWire.ReadLength(message, ref pos);
            var inner = message.Slice(pos, len);
            pos += len;
            if (level == Level.Scope)
            {
                if (WriteItemIfKept(inner, signal, sampler, output))
                {
                    kept++;
                }
                else
                {
                    dropped++;
                }

                continue;
            }

            int mark = BeginMessage(output, nested);
            int before = kept;
            CopyLevel(inner, level + 1, signal, sampler, output, ref kept, ref dropped);
            if (kept == before)
            {
                Abandon(output, mark);
            }
            else
            {
                EndMessage(output, mark);
            }
        }
    }

    /// <summary>Writes a span or log record to the output unless the sampler drops it; false when dropped.</summary>
    private static bool WriteItemIfKept(ReadOnlySpan<byte> item, in SignalFields signal, TraceSampler sampler, PooledBuffer output)
    {
        ReadOnlySpan<byte> traceId = default;
        ReadOnlySpan<byte> traceState = default;
        int traceStateFieldStart = -1, traceStateFieldEnd = -1;
        // Every field is visited (a later trace_id or trace_state wins, as in a parser), with the
        // splitter's by-value field walk: its inlined fast path covers every field of an SDK span.
        for (int pos = 0; pos < item.Length;)
        {
            var f = ProtoWire.ReadField(item, pos);
            if (f.WireType == ProtoWire.WireLengthDelimited)
            {
                if (f.Number == signal.TraceId)
                {
                    traceId = item[f.ValueStart..f.End];
                }
                else if (f.Number == signal.TraceState)
                {
                    traceState = item[f.ValueStart..f.End];
                    traceStateFieldStart = pos;
                    traceStateFieldEnd = f.End;
                }
            }

            pos = f.End;
        }

        return signal.HasTraceState
            ? WriteSpanIfKept(item, traceId, traceState, traceStateFieldStart, traceStateFieldEnd, signal, sampler, output)
            : WriteLogIfKept(item, traceId, signal, sampler, output);
    }

    private static bool WriteLogIfKept(ReadOnlySpan<byte> record, ReadOnlySpan<byte> traceId, in SignalFields signal, TraceSampler sampler, PooledBuffer output)
    {
        // An absent or all-zero trace id is not a valid one: such records are not part of any trace.
        if (traceId.Length == 16 && traceId.ContainsAnyExcept((byte)0) && !sampler.KeepLog(traceId))
        {
            return false;
        }

        WriteField(output, signal.Items, record);
        return true;
    }

    private static bool WriteSpanIfKept(
        ReadOnlySpan<byte> span, ReadOnlySpan<byte> traceId, ReadOnlySpan<byte> traceState, int traceStateFieldStart, int traceStateFieldEnd, in SignalFields signal, TraceSampler sampler, PooledBuffer output)
    {
        if (traceId.Length != 16)
        {
            WriteField(output, signal.Items, span); // cannot be sampled consistently; the gateway rejects these anyway
            return true;
        }

        string? state = traceState.IsEmpty ? null : Encoding.UTF8.GetString(traceState);
        var decision = sampler.Decide(traceId, state);
        if (!decision.Keep)
        {
            return false;
        }

        string newState = OtelTraceState.WithThreshold(state, decision.Threshold);
        if (newState == (state ?? ""))
        {
            WriteField(output, signal.Items, span);
            return true;
        }

        // Rewrite: every field but trace_state as it was, then the new trace_state.
        int newStateBytes = Encoding.UTF8.GetByteCount(newState);
        int without = traceStateFieldStart < 0 ? span.Length : span.Length - (traceStateFieldEnd - traceStateFieldStart);
        int total = without + (newStateBytes == 0 ? 0 : ProtoWire.FieldSize(newStateBytes));
        var dest = output.GetSpan(ProtoWire.FieldSize(total));
        int w = ProtoWire.WriteLengthDelimitedHeader(dest, signal.Items, total);
        if (traceStateFieldStart < 0)
        {
            span.CopyTo(dest[w..]);
            w += span.Length;
        }
        else
        {
            span[..traceStateFieldStart].CopyTo(dest[w..]);
            w += traceStateFieldStart;
            span[traceStateFieldEnd..].CopyTo(dest[w..]);
            w += span.Length - traceStateFieldEnd;
        }

        if (newStateBytes > 0)
        {
            w += ProtoWire.WriteLengthDelimitedHeader(dest[w..], signal.TraceState, newStateBytes);
            w += Encoding.UTF8.GetBytes(newState, dest[w..]);
        }

        output.Advance(w);
        return true;
    }

    private static void WriteField(PooledBuffer output, int field, ReadOnlySpan<byte> payload)
    {
        var dest = output.GetSpan(ProtoWire.FieldSize(payload.Length));
        int w = ProtoWire.WriteLengthDelimitedHeader(dest, field, payload.Length);
        payload.CopyTo(dest[w..]);
        output.Advance(w + payload.Length);
    }

    // Nested messages are written with a 5-byte length placeholder that EndMessage shrinks to the
    // varint's real size (one memmove per resource and scope, never per span).
    private const int Placeholder = 5;

    private static int BeginMessage(PooledBuffer output, int field)
    {
        int mark = output.Length;
        var dest = output.GetSpan(1 + Placeholder);
        dest[0] = (byte)((field << 3) | ProtoWire.WireLengthDelimited);
        output.Advance(1 + Placeholder);
        return mark;
    }

    private static void EndMessage(PooledBuffer output, int mark)
    {
        int contentStart = mark + 1 + Placeholder;
        int contentLength = output.Length - contentStart;
        int varintSize = ProtoWire.VarintSize((ulong)contentLength);
        var all = output.RawSpan;
        ProtoWire.WriteVarint(all[(mark + 1)..], (ulong)contentLength);
        int shift = Placeholder - varintSize;
        if (shift > 0)
        {
            all.Slice(contentStart, contentLength).CopyTo(all[(mark + 1 + varintSize)..]);
            output.Truncate(output.Length - shift);
        }
    }

    private static void Abandon(PooledBuffer output, int mark) => output.Truncate(mark);
}
