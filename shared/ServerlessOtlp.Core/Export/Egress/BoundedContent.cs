using System.Buffers;
using System.Text;

namespace ServerlessOtlp.Export.Egress;

/// <summary>
/// Reads a backend's answer up to <see cref="MaxBytes"/> and no further: a hostile backend cannot
/// make an exporter buffer a large body. Every exporter reads answers through this.
/// </summary>
internal static class BoundedContent
{
    /// <summary>A partial-success or error body is small; the Collector's exporters cap it at 64 KiB too.</summary>
    public const int MaxBytes = 64 * 1024;

    /// <summary>The body's first bytes (at most <see cref="MaxBytes"/>) and whether there was more.</summary>
    public static async Task<(byte[] Bytes, bool Truncated)> ReadAsync(HttpContent content, CancellationToken cancellationToken)
    {
        if (content.Headers.ContentLength is 0)
        {
            return ([], false);
        }

        await using var stream = await content.ReadAsStreamAsync(cancellationToken);

        // One byte past the cap tells "exactly the cap" from "more"; the rest is never read.
        byte[] buffer = ArrayPool<byte>.Shared.Rent(MaxBytes + 1);
        try
        {
            int filled = 0;
            int read;
            while (filled <= MaxBytes && (read = await stream.ReadAsync(buffer.AsMemory(filled, MaxBytes + 1 - filled), cancellationToken)) > 0)
            {
                filled += read;
            }

            return filled > MaxBytes ? (buffer[..MaxBytes], true) : (buffer[..filled], false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The body as text (UTF-8), cut at <see cref="MaxBytes"/>.</summary>
    public static async Task<string> ReadTextAsync(HttpContent content, CancellationToken cancellationToken)
    {
        var (bytes, truncated) = await ReadAsync(content, cancellationToken);
        string text = Encoding.UTF8.GetString(bytes);
        return truncated ? text + "…" : text;
    }

    /// <summary>The permanent failure for a redirect: exporters never follow one (it could lead anywhere).</summary>
    public static string RedirectMessage(HttpResponseMessage response) =>
        $"HTTP {(int)response.StatusCode} redirect{(response.Headers.Location is { } to ? " to " + to : "")} not followed: point the destination at the final URL";
}
