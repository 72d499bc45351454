namespace ServerlessOtlp.Storage;

/// <summary>
/// The caller no longer owns the partition: another owner fenced the checkpoint row with a newer
/// epoch, or changed it under us (a replay). A drainer that sees this stops at once, without
/// writing anything more.
/// </summary>
internal sealed class LeaseLostException : Exception
{
    public LeaseLostException()
        : base("The partition lease was lost.")
    {
    }

    public LeaseLostException(string message)
        : base(message)
    {
    }

    public LeaseLostException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
