using System.IO.Compression;
using Grpc.Core;
using Grpc.Net.Compression;

namespace ServerlessOtlp.Gateway.Protocol;

/// <summary>
/// gzip for gRPC that stops at the decompressed-size limit while decompressing, so that a gzip bomb
/// never expands in memory and gRPC gets the same decompressed limit as OTLP/HTTP (see GatewayHost).
/// </summary>
internal sealed class LimitedGzipProvider(long maxDecompressedBytes) : ICompressionProvider
{
    public string EncodingName => "gzip";

    public Stream CreateCompressionStream(Stream stream, CompressionLevel? compressionLevel) =>
        new GZipStream(stream, compressionLevel ?? CompressionLevel.Fastest, leaveOpen: true);

    // grpc-dotnet inflates into a MemoryStream (which may double) and the marshaller copies the result.
    private const int HeldPerDecompressedByte = 3;

    public Stream CreateDecompressionStream(Stream stream)
    {
        var memory = Ingest.RequestMemory.Current;
        return new LimitedReadStream(new GZipStream(stream, CompressionMode.Decompress), maxDecompressedBytes,
            () => new RpcException(new Grpc.Core.Status(StatusCode.ResourceExhausted, $"decompressed request exceeds {maxDecompressedBytes} bytes")),
            // Corrupt gzip is bad data (INVALID_ARGUMENT); left alone it surfaced as an unhandled exception (UNKNOWN).
            ex => new RpcException(new Grpc.Core.Status(StatusCode.InvalidArgument, "request is not valid gzip: " + ex.Message)),
            // What it inflates is reserved as it grows, like the OTLP/HTTP path's buffers.
            memory == null ? null : n => memory.TryGrow(HeldPerDecompressedByte * (long)n)
                ? null
                : OtlpAnswers.ToRpcException(Ingest.IngestResult.Fail(Ingest.IngestOutcome.Overloaded, "gateway is at its in-flight limit; retry later", TimeSpan.FromSeconds(1))));
    }
}

/// <summary>
/// A read-only stream that throws once more than a limit has been read from it; <paramref name="onRead"/>
/// sees each chunk's size and may refuse it by returning the exception to throw.
/// </summary>
internal sealed class LimitedReadStream(Stream inner, long limit, Func<Exception> onExceeded, Func<InvalidDataException, Exception>? onInvalidData = null, Func<int, Exception?>? onRead = null) : Stream
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

        if (n > 0 && onRead?.Invoke(n) is { } refused)
        {
            throw refused;
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
