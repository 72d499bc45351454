using System.Buffers;

namespace ServerlessOtlp.Otlp.Wire;

/// <summary>
/// The identity of a resource as a 64-bit hash of its attributes, independent of their order:
/// FNV-1a 64 over the attributes sorted by key (ordinal bytes, then value bytes), each contributing
/// its key bytes, a 0xFF separator, its encoded AnyValue bytes and a 0xFE separator. Several
/// <c>resource</c> fields in one message are one resource to a protobuf decoder (it merges them):
/// hash their concatenation, which is exactly that merge for the repeated attributes.
/// </summary>
internal static class ResourceIdentity
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
        // Heapsort: n log n whatever the count (the gateway caps attributes per list, but the hash must
        // not be the place where a large list turns quadratic), in place, no allocation.
        HeapSort(used, source);

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

    private static void HeapSort(Span<Attr> items, ReadOnlySpan<byte> source)
    {
        for (int start = (items.Length / 2) - 1; start >= 0; start--)
        {
            SiftDown(items, source, start, items.Length);
        }

        for (int end = items.Length - 1; end > 0; end--)
        {
            (items[0], items[end]) = (items[end], items[0]);
            SiftDown(items, source, 0, end);
        }
    }

    private static void SiftDown(Span<Attr> items, ReadOnlySpan<byte> source, int root, int end)
    {
        while (true)
        {
            int child = (2 * root) + 1;
            if (child >= end)
            {
                return;
            }

            if (child + 1 < end && Compare(items[child + 1], items[child], source) > 0)
            {
                child++;
            }

            if (Compare(items[child], items[root], source) <= 0)
            {
                return;
            }

            (items[root], items[child]) = (items[child], items[root]);
            root = child;
        }
    }

    /// <summary>By key bytes, then value bytes: a total order, so duplicate keys hash the same in any order.</summary>
    private static int Compare(in Attr a, in Attr b, ReadOnlySpan<byte> source)
    {
        int c = source.Slice(a.KeyStart, a.KeyLength).SequenceCompareTo(source.Slice(b.KeyStart, b.KeyLength));
        return c != 0 ? c : source.Slice(a.ValueStart, a.ValueLength).SequenceCompareTo(source.Slice(b.ValueStart, b.ValueLength));
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
