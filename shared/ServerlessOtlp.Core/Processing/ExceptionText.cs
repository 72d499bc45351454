namespace ServerlessOtlp.Processing;

/// <summary>
/// Failures as one log line: the storage SDK's messages run to a dozen lines (status, error code,
/// headers), which a transient outage repeats every few seconds. The full exception goes to debug.
/// </summary>
internal static class ExceptionText
{
    public static string Summary(Exception ex)
    {
        var inner = ex;
        while (inner is AggregateException { InnerException: { } only })
        {
            inner = only;
        }

        string message = inner.Message;
        int newline = message.IndexOfAny(['\r', '\n']);
        return $"{inner.GetType().Name}: {(newline < 0 ? message : message[..newline]).Trim()}";
    }

    /// <summary>True for the failures worth a warning line: the 1st, 2nd, 4th, 8th, … in a row.</summary>
    public static bool IsWorthALine(int failuresInARow) => failuresInARow > 0 && (failuresInARow & (failuresInARow - 1)) == 0;
}
