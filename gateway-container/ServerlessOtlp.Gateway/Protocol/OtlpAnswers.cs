using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using ServerlessOtlp.Gateway.Ingest;
using GrpcStatusCode = Grpc.Core.StatusCode;

namespace ServerlessOtlp.Gateway.Protocol;

/// <summary>
/// How each outcome is answered, per the OTLP specification's "Failures" and "Throttling" rules:
/// retryable refusals carry RetryInfo (gRPC) or Retry-After (HTTP); RESOURCE_EXHAUSTED is
/// retryable only with RetryInfo, so "too large" is answered without it.
/// </summary>
internal static class OtlpAnswers
{
    internal readonly record struct Answer(GrpcStatusCode GrpcCode, int HttpStatus, bool Retryable);

    public static Answer For(IngestOutcome outcome) => outcome switch
    {
        IngestOutcome.Ok => new(GrpcStatusCode.OK, 200, false),
        IngestOutcome.InvalidArgument => new(GrpcStatusCode.InvalidArgument, 400, false),
        IngestOutcome.Unauthenticated => new(GrpcStatusCode.Unauthenticated, 401, false),
        IngestOutcome.TooLarge => new(GrpcStatusCode.ResourceExhausted, 413, false),
        IngestOutcome.RateLimited => new(GrpcStatusCode.ResourceExhausted, 429, true),
        IngestOutcome.Overloaded => new(GrpcStatusCode.Unavailable, 503, true),
        IngestOutcome.LogUnavailable => new(GrpcStatusCode.Unavailable, 503, true),
        IngestOutcome.UnsupportedMediaType => new(GrpcStatusCode.InvalidArgument, 415, false),
        IngestOutcome.NotFound => new(GrpcStatusCode.Unimplemented, 404, false),
        IngestOutcome.MethodNotAllowed => new(GrpcStatusCode.Unimplemented, 405, false),
        _ => throw new ArgumentOutOfRangeException(nameof(outcome)),
    };

    /// <summary>The <c>google.rpc.Status</c> for a failure, with <c>RetryInfo</c> when retrying helps.</summary>
    public static Google.Rpc.Status ToStatus(in IngestResult result)
    {
        var answer = For(result.Outcome);
        var status = new Google.Rpc.Status { Code = (int)answer.GrpcCode, Message = result.Message ?? result.Outcome.ToString() };
        if (answer.Retryable)
        {
            var delay = result.RetryAfter is { } d && d > TimeSpan.Zero ? d : TimeSpan.FromSeconds(1);
            status.Details.Add(Any.Pack(new RetryInfo { RetryDelay = Duration.FromTimeSpan(delay) }));
        }

        return status;
    }

    public static RpcException ToRpcException(in IngestResult result) => ToStatus(result).ToRpcException();

    /// <summary>Whole seconds for an HTTP Retry-After header (at least 1).</summary>
    public static int RetryAfterSeconds(in IngestResult result) =>
        (int)Math.Max(1, Math.Ceiling((result.RetryAfter ?? TimeSpan.FromSeconds(1)).TotalSeconds));

    internal static readonly JsonFormatter StatusJson = new(JsonFormatter.Settings.Default
        .WithFormatDefaultValues(false)
        .WithTypeRegistry(TypeRegistry.FromMessages(RetryInfo.Descriptor)));
}
