using System.IO.Compression;
using Grpc.Core;
using Grpc.Net.Compression;

namespace ServerlessOtlp.Gateway.Protocol;

/// <summary>
/// gzip for gRPC that stops at the decompressed-size limit. grpc-dotnet enforces
/// MaxReceiveMessageSize on the compressed message only, so a gzip bomb would otherwise expand freely.
/// </summary>
public sealed class LimitedGzipProvider(long maxDecompressedBytes) : ICompressionProvider
{
    public string EncodingName => "gzip";

    public Stream CreateCompressionStream(Stream stream, CompressionLevel? compressionLevel) =>
        new GZipStream(stream, compressionLevel ?? CompressionLevel.Fastest, leaveOpen: true);

    public Stream CreateDecompressionStream(Stream stream) =>
        new LimitedReadStream(new GZipStream(stream, CompressionMode.Decompress), maxDecompressedBytes,
            () => new RpcException(new Grpc.Core.Status(StatusCode.ResourceExhausted, $"decompressed request exceeds {maxDecompressedBytes} bytes")));
}

/// <summary>A read-only stream that throws once more than a limit has been read from it.</summary>
public sealed class LimitedReadStream(Stream inner, long limit, Func<Exception> onExceeded) : Stream
{
    private long _read;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => _read; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(buffer);
        return Count(n);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n = await inner.ReadAsync(buffer, cancellationToken);
        return Count(n);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private int Count(int n)
    {
        _read += n;
        if (_read > limit)
        {
            throw onExceeded();
        }

        return n;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
