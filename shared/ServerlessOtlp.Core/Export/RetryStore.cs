using System.Globalization;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using ServerlessOtlp.Otlp;

namespace ServerlessOtlp.Export;

/// <summary>A batch parked in the retry store, as listed.</summary>
public sealed record RetryEntry(
    string Id,
    string Tenant,
    string Destination,
    Signal Signal,
    DateTimeOffset FirstFailure,
    int Attempts,
    string LastError,
    long Bytes);

/// <summary>The backlog of one (tenant, destination): visible in status and metrics.</summary>
public sealed record RetryBacklog(string Tenant, string Destination, int Count, long Bytes, TimeSpan OldestAge);

/// <summary>
/// Batches a destination could not take within the inline retry budget, kept durably until it
/// answers again: blob container <c>retry</c>, one blob per batch named
/// <c>{tenant}/{destination}/{first-failure ticks:D19}-{guid}.bin</c> so that a listing of a
/// destination's prefix is oldest first. The body is the OTLP protobuf request; the rest is metadata.
/// </summary>
public class RetryStore
{
    /// <summary>How long a drainer holds an entry while re-sending it (blob leases are 15–60 s).</summary>
    public static readonly TimeSpan ClaimDuration = TimeSpan.FromSeconds(60);

    private const int MaxErrorLength = 1024;
    private readonly BlobContainerClient _container;
    private readonly TimeProvider _time;

    public RetryStore(BlobContainerClient container, TimeProvider? time = null)
    {
        _container = container;
        _time = time ?? TimeProvider.System;
    }

    protected RetryStore()
    {
        _container = null!;
        _time = TimeProvider.System;
    }

    public virtual Task EnsureCreatedAsync(CancellationToken cancellationToken = default) =>
        _container.CreateIfNotExistsAsync(cancellationToken: cancellationToken);

    /// <summary>Parks a batch; returns its id.</summary>
    public virtual async Task<string> WriteAsync(string tenant, string destination, Signal signal, ReadOnlyMemory<byte> protobuf, DateTimeOffset firstFailure, int attempts, string lastError, CancellationToken cancellationToken = default)
    {
        string id = $"{tenant}/{destination}/{firstFailure.UtcTicks:D19}-{Guid.NewGuid():N}.bin";
        var metadata = new Dictionary<string, string>
        {
            ["tenant"] = tenant,
            ["destination"] = destination,
            ["signal"] = signal.ToName(),
            ["firstfailure"] = firstFailure.ToString("O", CultureInfo.InvariantCulture),
            ["attempts"] = attempts.ToString(CultureInfo.InvariantCulture),
            ["lasterror"] = Ascii(lastError),
        };
        await _container.GetBlobClient(id).UploadAsync(new BinaryData(protobuf), new BlobUploadOptions { Metadata = metadata }, cancellationToken);
        return id;
    }

    /// <summary>Entries, oldest first within each (tenant, destination).</summary>
    public virtual async Task<IReadOnlyList<RetryEntry>> ListAsync(string? tenant = null, string? destination = null, CancellationToken cancellationToken = default)
    {
        string? prefix = tenant == null ? null : destination == null ? tenant + "/" : tenant + "/" + destination + "/";
        var list = new List<RetryEntry>();
        await foreach (var item in _container.GetBlobsAsync(BlobTraits.Metadata, BlobStates.None, prefix, cancellationToken))
        {
            if (FromMetadata(item.Name, item.Metadata, item.Properties.ContentLength ?? 0) is { } entry
                && (destination == null || entry.Destination == destination))
            {
                list.Add(entry);
            }
        }

        return list;
    }

    /// <summary>Count, bytes and oldest age per (tenant, destination).</summary>
    public virtual async Task<IReadOnlyList<RetryBacklog>> GetStatsAsync(CancellationToken cancellationToken = default)
    {
        var now = _time.GetUtcNow();
        var stats = new List<RetryBacklog>();
        foreach (var group in (await ListAsync(cancellationToken: cancellationToken)).GroupBy(e => (e.Tenant, e.Destination)))
        {
            var oldest = group.Min(e => e.FirstFailure);
            stats.Add(new RetryBacklog(group.Key.Tenant, group.Key.Destination, group.Count(), group.Sum(e => e.Bytes), now - oldest));
        }

        return stats;
    }

    /// <summary>
    /// Claims an entry for re-sending (a blob lease, so two drainers never send the same entry at
    /// once) and reads it; null when it is gone or another drainer holds it.
    /// </summary>
    public virtual async Task<RetryClaim?> ClaimAsync(RetryEntry entry, CancellationToken cancellationToken = default)
    {
        var blob = _container.GetBlobClient(entry.Id);
        var lease = blob.GetBlobLeaseClient();
        try
        {
            await lease.AcquireAsync(ClaimDuration, cancellationToken: cancellationToken);
            var content = await blob.DownloadContentAsync(cancellationToken);
            return new RetryClaim(entry, content.Value.Content, lease.LeaseId);
        }
        catch (RequestFailedException ex) when (ex.Status is 404 or 409 or 412)
        {
            return null;
        }
    }

    /// <summary>Removes a claimed entry (delivered, or moved to the dead-letter store).</summary>
    public virtual async Task DeleteAsync(RetryClaim claim, CancellationToken cancellationToken = default)
    {
        try
        {
            await _container.GetBlobClient(claim.Entry.Id).DeleteIfExistsAsync(conditions: new BlobRequestConditions { LeaseId = claim.LeaseId }, cancellationToken: cancellationToken);
        }
        catch (RequestFailedException ex) when (ex.Status is 409 or 412)
        {
            // The claim expired and another drainer took the entry: it settles it.
        }
    }

    /// <summary>Records one more failed attempt and releases the claim.</summary>
    public virtual async Task ReleaseAsync(RetryClaim claim, string lastError, CancellationToken cancellationToken = default)
    {
        var blob = _container.GetBlobClient(claim.Entry.Id);
        var conditions = new BlobRequestConditions { LeaseId = claim.LeaseId };
        try
        {
            var metadata = Metadata(claim.Entry);
            metadata["attempts"] = (claim.Entry.Attempts + 1).ToString(CultureInfo.InvariantCulture);
            metadata["lasterror"] = Ascii(lastError);
            await blob.SetMetadataAsync(metadata, conditions, cancellationToken);
            await blob.GetBlobLeaseClient(claim.LeaseId).ReleaseAsync(cancellationToken: cancellationToken);
        }
        catch (RequestFailedException ex) when (ex.Status is 404 or 409 or 412)
        {
            // Gone or taken over: nothing to record.
        }
    }

    private static Dictionary<string, string> Metadata(RetryEntry e) => new()
    {
        ["tenant"] = e.Tenant,
        ["destination"] = e.Destination,
        ["signal"] = e.Signal.ToName(),
        ["firstfailure"] = e.FirstFailure.ToString("O", CultureInfo.InvariantCulture),
        ["attempts"] = e.Attempts.ToString(CultureInfo.InvariantCulture),
        ["lasterror"] = Ascii(e.LastError),
    };

    private static RetryEntry? FromMetadata(string id, IDictionary<string, string> m, long bytes)
    {
        if (!m.TryGetValue("tenant", out var tenant) || !m.TryGetValue("destination", out var destination)
            || !m.TryGetValue("signal", out var s) || !SignalNames.TryParse(s, out var signal))
        {
            return null; // not ours
        }

        _ = DateTimeOffset.TryParse(m.TryGetValue("firstfailure", out var f) ? f : "", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var firstFailure);
        _ = int.TryParse(m.TryGetValue("attempts", out var a) ? a : "0", CultureInfo.InvariantCulture, out int attempts);
        return new RetryEntry(id, tenant, destination, signal, firstFailure, attempts, m.TryGetValue("lasterror", out var e) ? e : "", bytes);
    }

    private static string Ascii(string s)
    {
        var chars = s.Select(c => c is >= ' ' and <= '~' ? c : '?').ToArray();
        return new string(chars, 0, Math.Min(chars.Length, MaxErrorLength));
    }
}

/// <summary>An entry held by one drainer, with its body.</summary>
public sealed record RetryClaim(RetryEntry Entry, BinaryData Body, string LeaseId);
