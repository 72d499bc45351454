using System.IO.Compression;
using Grpc.Core;
using Grpc.Net.Compression;

namespace ServerlessOtlp.Gateway.Protocol;

/// <summary>
/// gzip for gRPC that stops at the decompressed-size limit while decompressing, so that a gzip bomb
/// never expands in memory and gRPC gets the same decompressed limit as OTLP/HTTP (see GatewayHost).
/// </summary>
public sealed class LimitedGzipProvider(long maxDecompressedBytes) : ICompressionProvider
{
    public string EncodingName => "gzip";

    public Stream CreateCompressionStream(Stream stream, CompressionLevel? compressionLevel) =>
        new GZipStream(stream, compressionLevel ?? CompressionLevel.Fastest, leaveOpen: true);

    public Stream CreateDecompressionStream(Stream stream) =>
        new LimitedReadStream(new GZipStream(stream, CompressionMode.Decompress), maxDecompressedBytes,
            () => new RpcException(new Grpc.Core.Status(StatusCode.ResourceExhausted, $"decompressed request exceeds {maxDecompressedBytes} bytes")),
            // Corrupt gzip is bad data (INVALID_ARGUMENT); left alone it surfaced as an unhandled exception (UNKNOWN).
            ex => new RpcException(new Grpc.Core.Status(StatusCode.InvalidArgument, "request is not valid gzip: " + ex.Message)));
}

/// <summary>A read-only stream that throws once more than a limit has been read from it.</summary>
public sealed class LimitedReadStream(Stream inner, long limit, Func<Exception> onExceeded, Func<InvalidDataException, Exception>? onInvalidData = null) : Stream
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
        int n;
        try
        {
            n = inner.Read(buffer);
        }
        catch (InvalidDataException ex) when (onInvalidData != null)
        {
            throw onInvalidData(ex);
        }

        return Count(n);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n;
        try
        {
            n = await inner.ReadAsync(buffer, cancellationToken);
        }
        catch (InvalidDataException ex) when (onInvalidData != null)
        {
            throw onInvalidData(ex);
        }

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
