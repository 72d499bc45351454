namespace ServerlessOtlp.Gateway.Ingest;

/// <summary>What the gateway answers; <see cref="Protocol.OtlpAnswers"/> maps each to gRPC and HTTP.</summary>
internal enum IngestOutcome
{
    Ok,
    InvalidArgument,
    Unauthenticated,
    TooLarge,
    RateLimited,
    Overloaded,
    LogUnavailable,
    UnsupportedMediaType,
    NotFound,
    MethodNotAllowed,
}

/// <summary>The result of one export request.</summary>
internal readonly record struct IngestResult(IngestOutcome Outcome, int Accepted, int Rejected, string? Message, TimeSpan? RetryAfter = null)
{
    public static IngestResult Fail(IngestOutcome outcome, string message, TimeSpan? retryAfter = null) => new(outcome, 0, 0, message, retryAfter);
}
