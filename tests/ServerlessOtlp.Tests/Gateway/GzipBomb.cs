using System.IO.Compression;

namespace ServerlessOtlp.Tests.Gateway;

/// <summary>1 GiB of zeros, gzip-compressed once (streaming, never held uncompressed) and cached.</summary>
public static class GzipBomb
{
    public const long DecompressedBytes = 1L << 30;

    private static readonly Lazy<byte[]> Bytes = new(Create);

    public static byte[] Compressed => Bytes.Value;

    private static byte[] Create()
    {
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            var zeros = new byte[1 << 20];
            for (long written = 0; written < DecompressedBytes; written += zeros.Length)
            {
                gzip.Write(zeros);
            }
        }

        return output.ToArray();
    }
}
