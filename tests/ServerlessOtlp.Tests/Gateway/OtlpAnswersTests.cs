using Google.Rpc;
using ServerlessOtlp.Gateway.Ingest;
using ServerlessOtlp.Gateway.Protocol;
using GrpcStatusCode = Grpc.Core.StatusCode;

namespace ServerlessOtlp.Tests.Gateway;

/// <summary>The status mapping, table-driven against the OTLP specification's failure and throttling rules.</summary>
public sealed class OtlpAnswersTests
{
    // The outcome by name: the gateway keeps its types internal, and a public test method cannot take one.
    public static TheoryData<string, GrpcStatusCode, int, bool> Table => new()
    {
        { nameof(IngestOutcome.Ok), GrpcStatusCode.OK, 200, false },
        { nameof(IngestOutcome.InvalidArgument), GrpcStatusCode.InvalidArgument, 400, false },
        { nameof(IngestOutcome.Unauthenticated), GrpcStatusCode.Unauthenticated, 401, false },
        // Too large: RESOURCE_EXHAUSTED *without* RetryInfo, which the spec says is not retryable.
        { nameof(IngestOutcome.TooLarge), GrpcStatusCode.ResourceExhausted, 413, false },
        { nameof(IngestOutcome.RateLimited), GrpcStatusCode.ResourceExhausted, 429, true },
        { nameof(IngestOutcome.Overloaded), GrpcStatusCode.Unavailable, 503, true },
        { nameof(IngestOutcome.LogUnavailable), GrpcStatusCode.Unavailable, 503, true },
        { nameof(IngestOutcome.UnsupportedMediaType), GrpcStatusCode.InvalidArgument, 415, false },
        { nameof(IngestOutcome.NotFound), GrpcStatusCode.Unimplemented, 404, false },
        { nameof(IngestOutcome.MethodNotAllowed), GrpcStatusCode.Unimplemented, 405, false },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void Every_outcome_has_its_gRPC_code_HTTP_status_and_retryability(string name, GrpcStatusCode grpc, int http, bool retryable)
    {
        var outcome = Enum.Parse<IngestOutcome>(name);
        var answer = OtlpAnswers.For(outcome);
        Assert.Equal(grpc, answer.GrpcCode);
        Assert.Equal(http, answer.HttpStatus);
        Assert.Equal(retryable, answer.Retryable);

        if (outcome == IngestOutcome.Ok)
        {
            return;
        }

        var status = OtlpAnswers.ToStatus(IngestResult.Fail(outcome, "why", TimeSpan.FromSeconds(3)));
        Assert.Equal((int)grpc, status.Code);
        Assert.Equal("why", status.Message);
        var retry = status.GetDetail<RetryInfo>();
        Assert.Equal(retryable, retry != null);
        if (retry != null)
        {
            Assert.Equal(TimeSpan.FromSeconds(3), retry.RetryDelay.ToTimeSpan());
        }

        var rpc = OtlpAnswers.ToRpcException(IngestResult.Fail(outcome, "why"));
        Assert.Equal(grpc, rpc.StatusCode);
    }

    [Fact]
    public void The_table_covers_every_outcome()
    {
        var covered = Table.Select(row => Enum.Parse<IngestOutcome>((string)row[0])).ToHashSet();
        Assert.Equal(Enum.GetValues<IngestOutcome>().ToHashSet(), covered);
    }

    [Fact]
    public void An_outcome_outside_the_enum_throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => OtlpAnswers.For((IngestOutcome)999));

    [Theory]
    [InlineData(null, 1)]
    [InlineData(0.2, 1)]
    [InlineData(1.0, 1)]
    [InlineData(1.5, 2)]
    [InlineData(30.0, 30)]
    public void Retry_after_is_whole_seconds_of_at_least_one(double? seconds, int expected) =>
        Assert.Equal(expected, OtlpAnswers.RetryAfterSeconds(IngestResult.Fail(IngestOutcome.Overloaded, "x", seconds is { } s ? TimeSpan.FromSeconds(s) : null)));

    [Fact]
    public void Retryable_status_without_a_delay_still_carries_RetryInfo()
    {
        var status = OtlpAnswers.ToStatus(IngestResult.Fail(IngestOutcome.Overloaded, "busy"));
        Assert.True(status.GetDetail<RetryInfo>()!.RetryDelay.ToTimeSpan() > TimeSpan.Zero);
    }

    [Theory]
    [InlineData("key-1", null, "key-1")]
    [InlineData("  key-1  ", null, "key-1")]
    [InlineData(null, "Bearer key-2", "key-2")]
    [InlineData(null, "bearer key-2", "key-2")]
    [InlineData(null, "BEARER   key-2  ", "key-2")]
    [InlineData("key-1", "Bearer key-2", "key-1")]
    [InlineData("", "Bearer key-2", "key-2")]
    [InlineData("   ", "Bearer key-2", "key-2")]
    [InlineData(null, null, null)]
    [InlineData("", null, null)]
    [InlineData(null, "", null)]
    [InlineData(null, "Bearer", null)]
    [InlineData(null, "Bearer ", null)]
    [InlineData(null, "Bearer    ", null)]
    [InlineData(null, "Basic dXNlcjpwYXNz", null)]
    [InlineData(null, "key-2", null)]
    [InlineData(null, "Bearerkey-2", null)]
    public void ApiKeys_FromHeaders(string? apiKey, string? authorization, string? expected) =>
        Assert.Equal(expected, ApiKeys.FromHeaders(apiKey, authorization));
}
