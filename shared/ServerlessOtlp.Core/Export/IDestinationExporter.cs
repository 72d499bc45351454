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

/// <summary>One tenant's data for one destination: the decoded request and its protobuf bytes.</summary>
public sealed record ExportRequest(TenantConfig Tenant, DestinationConfig Destination, Signal Signal, IMessage Message, ReadOnlyMemory<byte> Protobuf);

/// <summary>Sends data to one kind of backend. Queueing, retry and timeouts are the caller's.</summary>
public interface IDestinationExporter
{
    DestinationKind Kind { get; }

    Task<ExportOutcome> ExportAsync(ExportRequest request, CancellationToken cancellationToken = default);
}
