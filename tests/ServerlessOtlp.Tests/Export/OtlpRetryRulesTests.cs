using System.Net.Http.Headers;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using ServerlessOtlp.Export;
using ServerlessOtlp.Export.Otlp;

namespace ServerlessOtlp.Tests.Export;

/// <summary>The OTLP specification's retryable answers, exactly (table-driven).</summary>
public sealed class OtlpRetryRulesTests
{
    [Theory]
    [InlineData(StatusCode.OK, false, ExportStatus.Success)]
    [InlineData(StatusCode.Cancelled, false, ExportStatus.Transient)]
    [InlineData(StatusCode.DeadlineExceeded, false, ExportStatus.Transient)]
    [InlineData(StatusCode.Aborted, false, ExportStatus.Transient)]
    [InlineData(StatusCode.OutOfRange, false, ExportStatus.Transient)]
    [InlineData(StatusCode.Unavailable, false, ExportStatus.Transient)]
    [InlineData(StatusCode.DataLoss, false, ExportStatus.Transient)]
    [InlineData(StatusCode.ResourceExhausted, true, ExportStatus.Transient)]
    [InlineData(StatusCode.ResourceExhausted, false, ExportStatus.Permanent)]
    [InlineData(StatusCode.Unknown, false, ExportStatus.Permanent)]
    [InlineData(StatusCode.InvalidArgument, false, ExportStatus.Permanent)]
    [InlineData(StatusCode.InvalidArgument, true, ExportStatus.Permanent)]
    [InlineData(StatusCode.NotFound, false, ExportStatus.Permanent)]
    [InlineData(StatusCode.AlreadyExists, false, ExportStatus.Permanent)]
    [InlineData(StatusCode.PermissionDenied, false, ExportStatus.Permanent)]
    [InlineData(StatusCode.FailedPrecondition, false, ExportStatus.Permanent)]
    [InlineData(StatusCode.Unimplemented, false, ExportStatus.Permanent)]
    [InlineData(StatusCode.Internal, false, ExportStatus.Permanent)]
    [InlineData(StatusCode.Unauthenticated, false, ExportStatus.Permanent)]
    public void Grpc_status(StatusCode code, bool hasRetryInfo, ExportStatus expected) =>
        Assert.Equal(expected, OtlpRetryRules.Classify(code, hasRetryInfo));

    [Theory]
    [InlineData(200, ExportStatus.Success)]
    [InlineData(202, ExportStatus.Success)]
    [InlineData(429, ExportStatus.Transient)]
    [InlineData(502, ExportStatus.Transient)]
    [InlineData(503, ExportStatus.Transient)]
    [InlineData(504, ExportStatus.Transient)]
    [InlineData(400, ExportStatus.Permanent)]
    [InlineData(401, ExportStatus.Permanent)]
    [InlineData(403, ExportStatus.Permanent)]
    [InlineData(404, ExportStatus.Permanent)]
    [InlineData(408, ExportStatus.Permanent)]
    [InlineData(413, ExportStatus.Permanent)]
    [InlineData(415, ExportStatus.Permanent)]
    [InlineData(500, ExportStatus.Permanent)]
    [InlineData(501, ExportStatus.Permanent)]
    [InlineData(301, ExportStatus.Permanent)]
    public void Http_status(int code, ExportStatus expected) =>
        Assert.Equal(expected, OtlpRetryRules.Classify(code));

    [Theory]
    [InlineData("7", 7.0)]
    [InlineData("0", 0.0)]
    [InlineData("Wed, 01 Jan 2025 00:00:30 GMT", 30.0)]
    [InlineData("Tue, 31 Dec 2024 23:59:00 GMT", 0.0)] // in the past: retry now
    [InlineData("soon", null)]
    [InlineData("", null)]
    public void Retry_after_seconds_or_http_date(string value, double? expectedSeconds)
    {
        var now = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
        Assert.Equal(expectedSeconds is { } s ? TimeSpan.FromSeconds(s) : null, OtlpRetryRules.RetryAfter(value, now));
    }

    [Fact]
    public void Retry_after_header_value()
    {
        var now = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
        Assert.Equal(TimeSpan.FromSeconds(3), OtlpRetryRules.RetryAfter(new RetryConditionHeaderValue(TimeSpan.FromSeconds(3)), now));
        Assert.Equal(TimeSpan.FromMinutes(2), OtlpRetryRules.RetryAfter(new RetryConditionHeaderValue(now.AddMinutes(2)), now));
        Assert.Null(OtlpRetryRules.RetryAfter((RetryConditionHeaderValue?)null, now));
    }

    [Fact]
    public void Retry_info_is_read_from_grpc_status_details_bin()
    {
        var status = new Google.Rpc.Status
        {
            Code = (int)Code.ResourceExhausted,
            Message = "slow down",
            Details = { Any.Pack(new RetryInfo { RetryDelay = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(1500)) }) },
        };
        var withInfo = status.ToRpcException();
        Assert.Equal(TimeSpan.FromMilliseconds(1500), OtlpRetryRules.RetryInfoDelay(withInfo));
        Assert.Equal(ExportStatus.Transient, OtlpRetryRules.Classify(withInfo.StatusCode, OtlpRetryRules.RetryInfoDelay(withInfo) != null));

        var without = new RpcException(new Grpc.Core.Status(StatusCode.ResourceExhausted, "too large"));
        Assert.Null(OtlpRetryRules.RetryInfoDelay(without));
        Assert.Equal(ExportStatus.Permanent, OtlpRetryRules.Classify(without.StatusCode, OtlpRetryRules.RetryInfoDelay(without) != null));

        var garbage = new RpcException(new Grpc.Core.Status(StatusCode.ResourceExhausted, "x"), new Metadata { { "grpc-status-details-bin", new byte[] { 0xff, 0xff, 0xff } } });
        Assert.Null(OtlpRetryRules.RetryInfoDelay(garbage));
    }

    [Theory]
    [InlineData("http://tempo:4318", "traces", "http://tempo:4318/v1/traces")]
    [InlineData("http://tempo:4318/", "metrics", "http://tempo:4318/v1/metrics")]
    [InlineData("http://tempo:4318/otlp", "logs", "http://tempo:4318/otlp/v1/logs")]
    [InlineData("http://tempo:4318/v1/traces", "traces", "http://tempo:4318/v1/traces")]
    [InlineData("http://loki:3100/otlp/v1/logs", "logs", "http://loki:3100/otlp/v1/logs")]
    [InlineData("http://x:4318/v1/traces", "metrics", "http://x:4318/v1/metrics")]
    public void Otlp_http_url(string endpoint, string signal, string expected)
    {
        Assert.True(ServerlessOtlp.Otlp.SignalNames.TryParse(signal, out var s));
        Assert.Equal(new Uri(expected), OtlpHttpExporter.SignalUrl(endpoint, s));
    }
}
