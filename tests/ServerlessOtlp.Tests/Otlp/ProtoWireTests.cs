using FsCheck;
using FsCheck.Xunit;
using ServerlessOtlp.Otlp.Wire;

namespace ServerlessOtlp.Tests.Otlp;

public class ProtoWireTests
{
    /// <summary>The field walk the fast path must agree with: <c>TryReadTag</c> then <c>SkipValue</c>.</summary>
    private static string Reference(byte[] data, int pos)
    {
        try
        {
            if (!ProtoWire.TryReadTag(data, ref pos, out int field, out int wireType))
            {
                return "end";
            }

            int valueStart = pos;
            if (wireType == ProtoWire.WireLengthDelimited)
            {
                int len = ProtoWire.ReadLength(data, ref pos);
                valueStart = pos;
                pos += len;
            }
            else
            {
                ProtoWire.SkipValue(data, ref pos, wireType);
            }

            return $"{field}/{wireType}/{valueStart}/{pos}";
        }
        catch (InvalidDataException)
        {
            return "invalid";
        }
    }

    private static string Fast(byte[] data, int pos)
    {
        if (pos >= data.Length)
        {
            return "end";
        }

        try
        {
            var f = ProtoWire.ReadField(data, pos);
            return $"{f.Number}/{f.WireType}/{f.ValueStart}/{f.End}";
        }
        catch (InvalidDataException)
        {
            return "invalid";
        }
    }

    [Property(MaxTest = 2000)]
    public bool ReadField_agrees_with_TryReadTag_and_SkipValue_on_any_bytes(byte[] data, NonNegativeInt start)
    {
        int pos = data.Length == 0 ? 0 : start.Get % data.Length;
        return Fast(data, pos) == Reference(data, pos);
    }

    [Theory]
    [InlineData(new byte[] { 0x0A, 0x02, 0x01, 0x02 }, "1/2/2/4")] // one-byte length
    [InlineData(new byte[] { 0x0A, 0x80, 0x01 }, "invalid")] // two-byte length (128) past the end
    [InlineData(new byte[] { 0x08, 0x96, 0x01, 0x00 }, "1/0/1/3")] // two-byte varint
    [InlineData(new byte[] { 0x85, 0x01, 0x01, 0x01, 0x00, 0x00 }, "16/5/2/6")] // flags: two-byte tag, fixed32
    [InlineData(new byte[] { 0x09, 1, 2, 3, 4, 5, 6, 7 }, "invalid")] // truncated fixed64
    [InlineData(new byte[] { 0x07, 0x00, 0x00, 0x00 }, "invalid")] // field number 0
    [InlineData(new byte[] { 0x0B, 0x00, 0x00, 0x00 }, "invalid")] // group start
    public void ReadField_reads_the_shapes_OTLP_uses(byte[] data, string expected)
    {
        Assert.Equal(expected, Fast(data, 0));
        Assert.Equal(expected, Reference(data, 0));
    }
}
