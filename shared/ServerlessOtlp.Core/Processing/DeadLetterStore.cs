using System.Globalization;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using ServerlessOtlp.Otlp;

namespace ServerlessOtlp.Processing;

/// <summary>A dead letter as listed: where it came from and why it is here.</summary>
public sealed record DeadLetter(
    string Id,
    string Tenant,
    string? Destination,
    string? Signal,
    int Partition,
    long Position,
    string Reason,
    DateTimeOffset At,
    long Bytes);

/// <summary>
/// Events that can never be delivered, kept with their reason and raw bytes in the
/// <c>deadletter</c> container as <c>{tenant}/{yyyy-MM-dd}/{partition}-{position}-{id}.bin</c>.
/// </summary>
public class DeadLetterStore
{
    private const string UnknownTenant = "_unknown";
    private readonly BlobContainerClient _container;

    public DeadLetterStore(BlobContainerClient container) => _container = container;

    protected DeadLetterStore() => _container = null!;

    public virtual Task EnsureCreatedAsync(CancellationToken cancellationToken = default) =>
        _container.CreateIfNotExistsAsync(cancellationToken: cancellationToken);

    public virtual async Task<string> WriteAsync(string? tenant, string? destination, Signal? signal, int partition, long position, string reason, ReadOnlyMemory<byte> body, CancellationToken cancellationToken = default)
    {
        var now = DateTimeOffset.UtcNow;
        string t = string.IsNullOrEmpty(tenant) ? UnknownTenant : tenant;
        string id = $"{t}/{now:yyyy-MM-dd}/{partition}-{position}-{Guid.NewGuid():N}.bin";
        var metadata = new Dictionary<string, string>
        {
            ["tenant"] = t,
            ["partition"] = partition.ToString(CultureInfo.InvariantCulture),
            ["position"] = position.ToString(CultureInfo.InvariantCulture),
            // Metadata must be ASCII: keep the reason readable but safe.
            ["reason"] = Ascii(reason),
            ["at"] = now.ToString("O", CultureInfo.InvariantCulture),
        };
        if (destination != null)
        {
            metadata["destination"] = Ascii(destination);
        }

        if (signal != null)
        {
            metadata["signal"] = signal.Value.ToName();
        }

        await _container.GetBlobClient(id).UploadAsync(new BinaryData(body), new BlobUploadOptions { Metadata = metadata }, cancellationToken);
        return id;
    }

    public virtual async Task<IReadOnlyList<DeadLetter>> ListAsync(string? tenant = null, CancellationToken cancellationToken = default)
    {
        var list = new List<DeadLetter>();
        await foreach (var item in _container.GetBlobsAsync(BlobTraits.Metadata, BlobStates.None, tenant == null ? null : tenant + "/", cancellationToken))
        {
            list.Add(FromMetadata(item.Name, item.Metadata, item.Properties.ContentLength ?? 0));
        }

        return list;
    }

    public virtual async Task<(DeadLetter Letter, BinaryData Body)?> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        try
        {
            var blob = _container.GetBlobClient(id);
            var content = await blob.DownloadContentAsync(cancellationToken);
            return (FromMetadata(id, content.Value.Details.Metadata, content.Value.Content.ToMemory().Length), content.Value.Content);
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return null;
        }
    }

    public virtual async Task<bool> DeleteAsync(string id, CancellationToken cancellationToken = default) =>
        (await _container.GetBlobClient(id).DeleteIfExistsAsync(cancellationToken: cancellationToken)).Value;

    private static DeadLetter FromMetadata(string id, IDictionary<string, string> m, long bytes)
    {
        string Get(string k) => m.TryGetValue(k, out var v) ? v : "";
        _ = int.TryParse(Get("partition"), CultureInfo.InvariantCulture, out int partition);
        _ = long.TryParse(Get("position"), CultureInfo.InvariantCulture, out long position);
        _ = DateTimeOffset.TryParse(Get("at"), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at);
        return new DeadLetter(id, Get("tenant"), m.TryGetValue("destination", out var d) ? d : null, m.TryGetValue("signal", out var s) ? s : null, partition, position, Get("reason"), at, bytes);
    }

    private static string Ascii(string s)
    {
        var chars = s.Select(c => c is >= ' ' and <= '~' ? c : '?').ToArray();
        return new string(chars, 0, Math.Min(chars.Length, 1024));
    }
}
