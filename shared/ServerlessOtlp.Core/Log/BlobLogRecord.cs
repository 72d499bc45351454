using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using ServerlessOtlp.Otlp;

namespace ServerlessOtlp.Log;

/// <summary>
/// The framing of one event in a blob-log segment (little-endian):
/// <code>
///  0 u32 magic "OTLR"   4 u32 record length (header included)   8 u32 CRC-32 of bytes [12, length)
/// 12 16B writer id     28 u64 writer sequence                   36 u8 format version  37 u8 signal
/// 38 u8 codec          39 u8 reserved   40 u32 item count       44 i64 received-at (Unix ms)
/// 52 u8 tenant length + tenant (UTF-8), u8 gateway length + gateway (UTF-8), then the body.
/// </code>
/// </summary>
internal static class BlobLogRecord
{
    public const uint Magic = 0x524C544F; // "OTLR"
    public const int FixedHeaderSize = 52;

    /// <summary>Largest record a reader accepts; bodies stay under Event Hubs' 1 MB, so 8 MiB means corruption.</summary>
    public const int MaxRecordSize = 8 * 1024 * 1024;

    public static int SizeOf(in LogEvent e) =>
        FixedHeaderSize + 2 + Encoding.UTF8.GetByteCount(e.Properties.Tenant) + Encoding.UTF8.GetByteCount(e.Properties.GatewayId) + e.Body.Length;

    public static int Write(Span<byte> dest, in LogEvent e, Guid writer, ulong sequence)
    {
        var p = e.Properties;
        int tenantLen = Encoding.UTF8.GetByteCount(p.Tenant);
        int gatewayLen = Encoding.UTF8.GetByteCount(p.GatewayId);
        if (tenantLen > 255 || gatewayLen > 255)
        {
            throw new ArgumentException("tenant and gateway ids must be at most 255 bytes");
        }

        int size = FixedHeaderSize + 2 + tenantLen + gatewayLen + e.Body.Length;
        BinaryPrimitives.WriteUInt32LittleEndian(dest, Magic);
        BinaryPrimitives.WriteInt32LittleEndian(dest[4..], size);
        writer.TryWriteBytes(dest[12..28]);
        BinaryPrimitives.WriteUInt64LittleEndian(dest[28..], sequence);
        dest[36] = (byte)p.FormatVersion;
        dest[37] = (byte)p.Signal;
        dest[38] = (byte)p.Codec;
        dest[39] = 0;
        BinaryPrimitives.WriteInt32LittleEndian(dest[40..], p.ItemCount);
        BinaryPrimitives.WriteInt64LittleEndian(dest[44..], p.ReceivedAt.ToUnixTimeMilliseconds());
        int w = FixedHeaderSize;
        dest[w++] = (byte)tenantLen;
        w += Encoding.UTF8.GetBytes(p.Tenant, dest[w..]);
        dest[w++] = (byte)gatewayLen;
        w += Encoding.UTF8.GetBytes(p.GatewayId, dest[w..]);
        e.Body.Span.CopyTo(dest[w..]);
        BinaryPrimitives.WriteUInt32LittleEndian(dest[8..], Crc32.HashToUInt32(dest[12..size]));
        return size;
    }

    public enum ParseStatus
    {
        Ok,

        /// <summary>The data ends inside the record: read more.</summary>
        Incomplete,
        Corrupt,
    }

    public readonly record struct Parsed(int Length, Guid Writer, ulong Sequence, EventProperties Properties, int BodyOffset, int BodyLength);

    /// <summary>Parses the record at the start of <paramref name="data"/>.</summary>
    public static ParseStatus TryParse(ReadOnlySpan<byte> data, out Parsed record, out string? reason)
    {
        record = default;
        reason = null;
        if (data.Length < 8)
        {
            return ParseStatus.Incomplete;
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(data) != Magic)
        {
            reason = "bad record magic";
            return ParseStatus.Corrupt;
        }

        int length = BinaryPrimitives.ReadInt32LittleEndian(data[4..]);
        if (length < FixedHeaderSize + 2 || length > MaxRecordSize)
        {
            reason = $"bad record length {length}";
            return ParseStatus.Corrupt;
        }

        if (data.Length < length)
        {
            return ParseStatus.Incomplete;
        }

        var rec = data[..length];
        if (Crc32.HashToUInt32(rec[12..]) != BinaryPrimitives.ReadUInt32LittleEndian(rec[8..]))
        {
            reason = "record CRC mismatch";
            return ParseStatus.Corrupt;
        }

        try
        {
            var writer = new Guid(rec[12..28]);
            ulong seq = BinaryPrimitives.ReadUInt64LittleEndian(rec[28..]);
            int format = rec[36];
            var signal = (Signal)rec[37];
            var codec = (BodyCodec)rec[38];
            int items = BinaryPrimitives.ReadInt32LittleEndian(rec[40..]);
            var receivedAt = DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64LittleEndian(rec[44..]));
            int r = FixedHeaderSize;
            int tenantLen = rec[r++];
            string tenant = Encoding.UTF8.GetString(rec.Slice(r, tenantLen));
            r += tenantLen;
            int gatewayLen = rec[r++];
            string gateway = Encoding.UTF8.GetString(rec.Slice(r, gatewayLen));
            r += gatewayLen;
            if (signal is < Signal.Traces or > Signal.Logs || codec != BodyCodec.Protobuf)
            {
                reason = $"unknown signal {(int)signal} or codec {(int)codec}";
                return ParseStatus.Corrupt;
            }

            record = new Parsed(length, writer, seq, new EventProperties(tenant, signal, codec, items, receivedAt, gateway, format), r, length - r);
            return ParseStatus.Ok;
        }
        catch (ArgumentException ex)
        {
            reason = "bad record header: " + ex.Message;
            return ParseStatus.Corrupt;
        }
    }
}
