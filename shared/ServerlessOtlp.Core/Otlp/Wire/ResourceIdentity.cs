using System.Buffers;

namespace ServerlessOtlp.Otlp.Wire;

/// <summary>
/// The identity of a resource as a 64-bit hash of its attributes, independent of their order:
/// FNV-1a 64 over the attributes sorted by key (ordinal bytes), each contributing its key bytes,
/// a 0xFF separator, its encoded AnyValue bytes and a 0xFE separator.
/// </summary>
public static class ResourceIdentity
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
