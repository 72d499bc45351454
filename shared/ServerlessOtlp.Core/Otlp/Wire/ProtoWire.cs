using System.Runtime.CompilerServices;

namespace ServerlessOtlp.Otlp.Wire;

/// <summary>Protobuf wire-format primitives over spans. Malformed input throws <see cref="InvalidDataException"/>.</summary>
internal static class ProtoWire
{
    public const int WireVarint = 0;
    public const int WireFixed64 = 1;
    public const int WireLengthDelimited = 2;
    public const int WireFixed32 = 5;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong ReadVarint(ReadOnlySpan<byte> data, ref int pos)
    {
        // Fast path: one byte, which is what tags and most lengths are.
        if ((uint)pos < (uint)data.Length && data[pos] < 0x80)
        {
            return data[pos++];
        }

        return ReadVarintSlow(data, ref pos);
    }

    private static ulong ReadVarintSlow(ReadOnlySpan<byte> data, ref int pos)
    {
        ulong result = 0;
        for (int shift = 0; shift < 70; shift += 7)
        {
            if ((uint)pos >= (uint)data.Length)
            {
                throw new InvalidDataException("truncated varint");
            }

            byte b = data[pos++];
            if (shift == 63 && b > 1)
            {
                throw new InvalidDataException("varint overflows 64 bits");
            }

            result |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return result;
            }
        }

        throw new InvalidDataException("varint longer than 10 bytes");
    }

    /// <summary>Reads a tag; returns false at the end of data.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryReadTag(ReadOnlySpan<byte> data, ref int pos, out int field, out int wireType)
    {
        if (pos >= data.Length)
        {
            field = 0;
            wireType = 0;
            return false;
        }

        ulong tag = ReadVarint(data, ref pos);
        field = (int)(tag >> 3);
        wireType = (int)(tag & 7);
        if (field <= 0 || tag > int.MaxValue)
        {
            throw new InvalidDataException("invalid field number");
        }

        return true;
    }

    /// <summary>Reads the length prefix of a length-delimited field and checks it against the data.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ReadLength(ReadOnlySpan<byte> data, ref int pos)
    {
        ulong len = ReadVarint(data, ref pos);
        if (len > (ulong)(data.Length - pos))
        {
            throw new InvalidDataException("length-delimited field runs past the end of its message");
        }

        return (int)len;
    }

    /// <summary>Skips the value of a field of the given wire type.</summary>
    public static void SkipValue(ReadOnlySpan<byte> data, ref int pos, int wireType)
    {
        switch (wireType)
        {
            case WireVarint:
                ReadVarint(data, ref pos);
                break;
            case WireFixed64:
                Advance(data, ref pos, 8);
                break;
            case WireLengthDelimited:
                int len = ReadLength(data, ref pos);
                pos += len;
                break;
            case WireFixed32:
                Advance(data, ref pos, 4);
                break;
            default:
                // Groups (3, 4) are not used by OTLP; anything else is not protobuf.
                throw new InvalidDataException($"unsupported wire type {wireType}");
        }
    }

    private static void Advance(ReadOnlySpan<byte> data, ref int pos, int count)
    {
        if (data.Length - pos < count)
        {
            throw new InvalidDataException("truncated fixed-size field");
        }

        pos += count;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int VarintSize(ulong value)
    {
        // 1 + floor(log2(v|1) / 7)
        return 1 + ((63 - System.Numerics.BitOperations.LeadingZeroCount(value | 1)) / 7);
    }

    /// <summary>Size of a length-delimited field with a one-byte tag (all OTLP fields used here are below 16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int FieldSize(int payloadLength) => 1 + VarintSize((ulong)payloadLength) + payloadLength;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int WriteVarint(Span<byte> dest, ulong value)
    {
        int i = 0;
        while (value >= 0x80)
        {
            dest[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        dest[i++] = (byte)value;
        return i;
    }

    /// <summary>Writes tag + length for a length-delimited field numbered below 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int WriteLengthDelimitedHeader(Span<byte> dest, int field, int length)
    {
        dest[0] = (byte)((field << 3) | WireLengthDelimited);
        return 1 + WriteVarint(dest[1..], (ulong)length);
    }
}
