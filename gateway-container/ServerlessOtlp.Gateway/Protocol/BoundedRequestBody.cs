using System.Buffers;
using System.IO.Compression;
using Microsoft.AspNetCore.Http.Features;
using ServerlessOtlp.Gateway.Ingest;

namespace ServerlessOtlp.Gateway.Protocol;

/// <summary>
/// A request body read into a pooled buffer that is reserved from the request's memory budget before it is
/// taken and as it grows, and that never holds more than a limit: on the wire, and for gzip after inflation
/// (through a stream that stops there). OTLP/HTTP and OpAMP read their bodies with it.
/// </summary>
internal static class BoundedRequestBody
{
    /// <summary>Past a limit, on the wire or inflated: 413.</summary>
    internal sealed class TooLargeException(string message) : Exception(message);

    /// <summary>The in-flight budget cannot hold the body: 503/429, retry later.</summary>
    internal sealed class BudgetFullException() : Exception("the in-flight budget is full");

    /// <summary>
    /// Reads the body. <paramref name="wireLimit"/> bounds the bytes received, <paramref name="inflatedLimit"/>
    /// the bytes after gzip; <paramref name="initial"/> is the first buffer's size (from Content-Length).
    /// The caller returns the buffer to <see cref="ArrayPool{T}.Shared"/>. Throws
    /// <see cref="TooLargeException"/>, <see cref="BudgetFullException"/>, <see cref="InvalidDataException"/>
    /// (not gzip) or Kestrel's 413.
    /// </summary>
    public static async Task<(byte[] Buffer, int Length)> ReadAsync(HttpContext http, bool gzip, long wireLimit, long inflatedLimit, int initial, RequestMemory memory)
    {
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = wireLimit;
        }

        Stream body = http.Request.Body;
        long limit = wireLimit;
        if (gzip)
        {
            limit = inflatedLimit;
            body = new LimitedReadStream(new GZipStream(body, CompressionMode.Decompress, leaveOpen: true), inflatedLimit,
                () => new TooLargeException($"decompressed request body exceeds the limit of {inflatedLimit} bytes"));
        }

        initial = (int)Math.Clamp(initial, 1, Math.Min(limit, Array.MaxLength));
        if (!memory.TryGrow(initial))
        {
            throw new BudgetFullException();
        }

        var buffer = ArrayPool<byte>.Shared.Rent(initial);
        long reserved = initial;
        int length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (buffer.Length >= limit)
                    {
                        // The buffer is full at the limit; one more byte means too large.
                        var probe = new byte[1];
                        if (await body.ReadAsync(probe, http.RequestAborted) > 0)
                        {
                            throw new TooLargeException($"request body exceeds the limit of {limit} bytes");
                        }

                        break;
                    }

                    // The reservation follows the buffer as it grows.
                    int grown = (int)Math.Min(limit, (long)buffer.Length * 2);
                    if (!memory.TryGrow(grown))
                    {
                        throw new BudgetFullException();
                    }

                    var bigger = ArrayPool<byte>.Shared.Rent(grown);
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    memory.Shrink(reserved);
                    reserved = grown;
                    buffer = bigger;
                }

                // Never read further than one byte past the limit, whatever size the pool handed out.
                int room = (int)Math.Min(buffer.Length - length, limit - length + 1);
                int n = await body.ReadAsync(buffer.AsMemory(length, room), http.RequestAborted);
                if (n == 0)
                {
                    break;
                }

                length += n;
                if (length > limit)
                {
                    throw new TooLargeException($"request body exceeds the limit of {limit} bytes");
                }
            }

            return (buffer, length);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
        finally
        {
            if (gzip)
            {
                await body.DisposeAsync();
            }
        }
    }
}
