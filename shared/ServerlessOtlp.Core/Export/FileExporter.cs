using System.Collections.Concurrent;
using System.Text;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Json;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Export;

/// <summary>
/// The <c>file</c> destination: OTLP/JSON lines, one export request per line, in
/// <c>traces.jsonl</c>, <c>metrics.jsonl</c>, <c>logs.jsonl</c> under the destination's path;
/// rotated by size to <c>traces-{UTC time}.jsonl</c>. Each line is written with one append call,
/// so several processes can share a file without interleaving inside a line.
/// </summary>
public sealed class FileExporter : IDestinationExporter
{
    /// <summary>Rotate a file once it passes this size.</summary>
    public const long DefaultMaxFileBytes = 100L * 1024 * 1024;

    private readonly long _maxFileBytes;
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new(StringComparer.Ordinal);

    public FileExporter(long maxFileBytes = DefaultMaxFileBytes) => _maxFileBytes = maxFileBytes;

    public DestinationKind Kind => DestinationKind.File;

    public async Task<ExportOutcome> ExportAsync(ExportRequest request, CancellationToken cancellationToken = default)
    {
        string? dir = request.Destination.Path;
        if (string.IsNullOrWhiteSpace(dir))
        {
            return new ExportOutcome(ExportStatus.Permanent, "file destination has no path");
        }

        string name = request.Signal.ToName();
        string file = Path.Combine(dir, name + ".jsonl");
        var json = OtlpJson.Format(request.Message);
        var bytes = Encoding.UTF8.GetBytes(json + "\n");
        var gate = _locks.GetOrAdd(file, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken);
        try
        {
            Directory.CreateDirectory(dir);
            RotateIfLarge(file, dir, name);
            await using var stream = new FileStream(file, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0, useAsync: false);
            stream.Write(bytes);
            return ExportOutcome.Ok;
        }
        catch (IOException ex)
        {
            // Disk full or a transient lock: worth retrying.
            return new ExportOutcome(ExportStatus.Transient, ex.Message);
        }
        catch (UnauthorizedAccessException ex)
        {
            return new ExportOutcome(ExportStatus.Permanent, ex.Message);
        }
        finally
        {
            gate.Release();
        }
    }

    private void RotateIfLarge(string file, string dir, string name)
    {
        var info = new FileInfo(file);
        if (!info.Exists || info.Length < _maxFileBytes)
        {
            return;
        }

        string rotated = Path.Combine(dir, $"{name}-{DateTime.UtcNow:yyyyMMddTHHmmssfff}.jsonl");
        try
        {
            File.Move(file, rotated);
        }
        catch (IOException)
        {
            // Another process rotated it first.
        }
    }
}
