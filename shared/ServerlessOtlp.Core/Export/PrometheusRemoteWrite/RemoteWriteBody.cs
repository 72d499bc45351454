using System.Buffers;
using Google.Protobuf;
using ServerlessOtlp.Export.PrometheusRemoteWrite.Prompb;
using Snappier;

namespace ServerlessOtlp.Export.PrometheusRemoteWrite;

/// <summary>A remote-write body: the <c>WriteRequest</c> protobuf, snappy block-compressed.</summary>
internal static class RemoteWriteBody
{
    /// <summary>
    /// Encodes into a buffer rented from <see cref="ArrayPool{T}.Shared"/> (the caller returns it):
    /// a body of a few thousand samples is hundreds of KB, and a fresh pair of arrays that size per
    /// request (serialized + compressed) lands on the large object heap and costs gen-2 collections.
    /// The bytes are those of <c>Snappy.CompressToArray(write.ToByteArray())</c>.
    /// </summary>
    public static byte[] Rent(WriteRequest write, out int length)
    {
        int size = write.CalculateSize();
        byte[] raw = ArrayPool<byte>.Shared.Rent(Math.Max(size, 1));
        try
        {
            write.WriteTo(raw.AsSpan(0, size));
            byte[] body = ArrayPool<byte>.Shared.Rent(Snappy.GetMaxCompressedLength(size));
            length = Snappy.Compress(raw.AsSpan(0, size), body);
            return body;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(raw);
        }
    }
}
