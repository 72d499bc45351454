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

    /// <summary>
    /// Reads one whole field at <paramref name="pos"/>: its number, wire type, and where its value
    /// starts and the field ends. Same checks and errors as <see cref="TryReadTag"/> + <see cref="SkipValue"/>;
    /// taking and returning positions by value keeps the caller's position in a register, which is
    /// what makes a walk over every field of every span cheap.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static WireField ReadField(ReadOnlySpan<byte> data, int pos)
    {
        // Fast path: a one- or two-byte tag (fields 1-2047) and a one- or two-byte length or varint:
        // every field of a span, attribute, event and scope in practice. Anything else, and every
        // error, goes the slow way.
        if ((uint)pos + 3 < (uint)data.Length)
        {
            uint tag = data[pos];
            int v = pos + 1;
            if (tag >= 0x80)
            {
                uint t1 = data[v];
                tag = (tag & 0x7F) | (t1 << 7);
                v++;
                if (t1 >= 0x80)
                {
                    return ReadFieldSlow(data, pos);
                }
            }

            if (tag >= 8)
            {
                uint b1 = data[v];
                switch (tag & 7)
                {
                    case WireLengthDelimited:
                        if (b1 < 0x80)
                        {
                            int end = v + 1 + (int)b1;
                            if ((uint)end <= (uint)data.Length)
                            {
                                return new WireField((int)(tag >> 3), WireLengthDelimited, v + 1, end);
                            }
                        }
                        else
                        {
                            uint b2 = data[v + 1];
                            int end = v + 2 + (int)((b1 & 0x7F) | (b2 << 7));
                            if (b2 < 0x80 && (uint)end <= (uint)data.Length)
                            {
                                return new WireField((int)(tag >> 3), WireLengthDelimited, v + 2, end);
                            }
                        }

                        break;
                    case WireVarint:
                        if (b1 < 0x80)
                        {
                            return new WireField((int)(tag >> 3), WireVarint, v, v + 1);
                        }

                        break;
                    case WireFixed64:
                        if ((uint)v + 8 <= (uint)data.Length)
                        {
                            return new WireField((int)(tag >> 3), WireFixed64, v, v + 8);
                        }

                        break;
                    case WireFixed32:
                        if ((uint)v + 4 <= (uint)data.Length)
                        {
                            return new WireField((int)(tag >> 3), WireFixed32, v, v + 4);
                        }

                        break;
                }
            }
        }

        return ReadFieldSlow(data, pos);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WireField ReadFieldSlow(ReadOnlySpan<byte> data, int pos)
    {
        if (!TryReadTag(data, ref pos, out int field, out int wireType))
        {
            throw new InvalidDataException("truncated field");
        }

        int valueStart = pos;
        if (wireType == WireLengthDelimited)
        {
            int len = ReadLength(data, ref pos);
            valueStart = pos;
            pos += len;
        }
        else
        {
            SkipValue(data, ref pos, wireType);
        }

        return new WireField(field, wireType, valueStart, pos);
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

/// <summary>One field as <see cref="ProtoWire.ReadField"/> found it: the value (payload of a
/// length-delimited field) is <c>[ValueStart, End)</c>; the next field starts at <c>End</c>.</summary>
internal readonly record struct WireField(int Number, int WireType, int ValueStart, int End)
{
    public int ValueLength => End - ValueStart;
}
