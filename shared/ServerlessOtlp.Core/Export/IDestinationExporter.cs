using Google.Protobuf;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Export;

/// <summary>Permanent or retryable: the one decision every exporter makes about a failure.</summary>
public enum ExportStatus
{
    Success,

    /// <summary>Worth retrying later (unavailable, throttled, timed out).</summary>
    Transient,

    /// <summary>Will never succeed as sent (bad request, refused for good); dead-letter it.</summary>
    Permanent,
}

/// <summary>
/// What one export attempt came to. <paramref name="RejectedItems"/> counts items the backend
/// refused in a partial success (never retried); <paramref name="RetryAfter"/> is the backend's
/// own wait (gRPC <c>RetryInfo</c>, HTTP <c>Retry-After</c>) for a transient failure.
/// </summary>
public readonly record struct ExportOutcome(ExportStatus Status, string? Message = null, long RejectedItems = 0, TimeSpan? RetryAfter = null)
{
    public static ExportOutcome Ok { get; } = new(ExportStatus.Success);

    public static ExportOutcome Transient(string message, TimeSpan? retryAfter = null) => new(ExportStatus.Transient, message, RetryAfter: retryAfter);

    public static ExportOutcome Permanent(string message) => new(ExportStatus.Permanent, message);
}

/// <summary>
/// One tenant's data for one destination: the decoded request and its protobuf bytes, and the log
/// partition it came from (null when it did not come from the log), for exporters that keep
/// per-partition state (<see cref="IPartitionStateExporter"/>).
/// </summary>
public sealed record ExportRequest(TenantConfig Tenant, DestinationConfig Destination, Signal Signal, IMessage Message, ReadOnlyMemory<byte> Protobuf, int? Partition = null);

/// <summary>Sends data to one kind of backend. Queueing, retry and timeouts are the caller's.</summary>
public interface IDestinationExporter
{
    /// <summary>The kind it exports (<see cref="IDestinationFactory.Kind"/>).</summary>
    string Kind { get; }

    Task<ExportOutcome> ExportAsync(ExportRequest request, CancellationToken cancellationToken = default);
}

/// <summary>
/// An exporter that keeps state per log partition which must survive a partition handoff (delta →
/// cumulative totals). The drain saves it with the partition's checkpoint and restores it on claim.
/// </summary>
public interface IPartitionStateExporter
{
    /// <summary>Moves whenever the partition's state changed in a way worth saving; equal values mean nothing to save.</summary>
    long StateVersion(int partition);

    /// <summary>The partition's state, serialized; null when there is none.</summary>
    string? SnapshotState(int partition);

    /// <summary>Replaces the partition's state with a snapshot (null: empty).</summary>
    void RestoreState(int partition, string? snapshot);
}
