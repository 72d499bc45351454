using System.Globalization;
using System.Net.Http.Headers;
using Google.Rpc;
using Grpc.Core;

namespace ServerlessOtlp.Export;

/// <summary>
/// The OTLP specification's retry rules ("Failures", OTLP/gRPC and OTLP/HTTP), in one place:
/// which answers are worth retrying and how long the backend asked us to wait. Pure functions.
/// </summary>
internal static class OtlpRetryRules
{
    /// <summary>
    /// Transient or permanent, for a gRPC status. RESOURCE_EXHAUSTED is retryable only when the
    /// server sent <c>RetryInfo</c> ("the server has indicated that it can recover").
    /// </summary>
    public static ExportStatus Classify(StatusCode code, bool hasRetryInfo) => code switch
    {
        StatusCode.OK => ExportStatus.Success,
        StatusCode.Cancelled or
        StatusCode.DeadlineExceeded or
        StatusCode.Aborted or
        StatusCode.OutOfRange or
        StatusCode.Unavailable or
        StatusCode.DataLoss => ExportStatus.Transient,
        StatusCode.ResourceExhausted => hasRetryInfo ? ExportStatus.Transient : ExportStatus.Permanent,
        _ => ExportStatus.Permanent,
    };

    /// <summary>Transient or permanent, for an HTTP status: only 429, 502, 503 and 504 are retryable.</summary>
    public static ExportStatus Classify(int httpStatus) => httpStatus switch
    {
        >= 200 and < 300 => ExportStatus.Success,
        429 or 502 or 503 or 504 => ExportStatus.Transient,
        _ => ExportStatus.Permanent,
    };

    /// <summary>The <c>RetryInfo.retry_delay</c> in a gRPC error's <c>grpc-status-details-bin</c>, if any.</summary>
    public static TimeSpan? RetryInfoDelay(RpcException exception)
    {
        Google.Rpc.Status? status;
        try
        {
            status = exception.GetRpcStatus();
        }
        catch (Google.Protobuf.InvalidProtocolBufferException)
        {
            return null; // a malformed details trailer is as good as none
        }

        var info = status?.GetDetail<RetryInfo>();
        if (info == null)
        {
            return null;
        }

        var delay = info.RetryDelay?.ToTimeSpan() ?? TimeSpan.Zero;
        return delay < TimeSpan.Zero ? TimeSpan.Zero : delay;
    }

    /// <summary>
    /// A <c>Retry-After</c> header as a wait from <paramref name="now"/>: delta-seconds or an
    /// HTTP-date (RFC 9110 §10.2.3); null when absent or unparseable, zero for a date in the past.
    /// </summary>
    public static TimeSpan? RetryAfter(RetryConditionHeaderValue? header, DateTimeOffset now)
    {
        if (header?.Delta is { } delta)
        {
            return delta < TimeSpan.Zero ? TimeSpan.Zero : delta;
        }

        if (header?.Date is { } date)
        {
            var wait = date - now;
            return wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
        }

        return null;
    }

    /// <summary>Parses a raw <c>Retry-After</c> value (seconds or HTTP-date).</summary>
    public static TimeSpan? RetryAfter(string? value, DateTimeOffset now)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        if (long.TryParse(value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long seconds))
        {
            return TimeSpan.FromSeconds(seconds);
        }

        return RetryConditionHeaderValue.TryParse(value, out var parsed) ? RetryAfter(parsed, now) : null;
    }
}
