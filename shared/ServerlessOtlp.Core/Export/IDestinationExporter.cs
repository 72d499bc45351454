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

public readonly record struct ExportOutcome(ExportStatus Status, string? Message = null, long RejectedItems = 0)
{
    public static ExportOutcome Ok { get; } = new(ExportStatus.Success);
}

/// <summary>One tenant's data for one destination: the decoded request and its protobuf bytes.</summary>
public sealed record ExportRequest(TenantConfig Tenant, DestinationConfig Destination, Signal Signal, IMessage Message, ReadOnlyMemory<byte> Protobuf);

/// <summary>Sends data to one kind of backend. Queueing, retry and timeouts are the caller's.</summary>
public interface IDestinationExporter
{
    DestinationKind Kind { get; }

    Task<ExportOutcome> ExportAsync(ExportRequest request, CancellationToken cancellationToken = default);
}
