namespace ServerlessOtlp.Log;

/// <summary>
/// <see cref="IPartitionedLog.AppendAsync"/> did not append every event. Events are appended in
/// order: the first <see cref="DurableCount"/> are durable. With <see cref="Refused"/>, the event at
/// <see cref="DurableCount"/> was refused for good (too large for the log) and nothing after it was
/// tried — the caller may append the rest again; otherwise the append failed there (transiently, as
/// far as the log knows) and what follows is not durable.
/// </summary>
public sealed class LogAppendException : IOException
{
    public LogAppendException(int durableCount, bool refused, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        DurableCount = durableCount;
        Refused = refused;
    }

    public int DurableCount { get; }

    public bool Refused { get; }
}
