namespace ServerlessOtlp.Cli.Terminal;

/// <summary>
/// A failure the user can fix: the message says what to do. Program prints it (without a stack
/// trace) and exits with <see cref="ExitCode"/>.
/// </summary>
internal sealed class CliException : Exception
{
    public CliException(string message, int exitCode = ExitCodes.Failure, Exception? innerException = null)
        : base(message, innerException)
    {
        ExitCode = exitCode;
    }

    public int ExitCode { get; }
}

/// <summary>Process exit codes, relied on by scripts (CONTRACTS.md, "otlpctl").</summary>
internal static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>The operation failed (storage unreachable, port in use, an unexpected error, …).</summary>
    public const int Failure = 1;

    /// <summary>The input was refused (bad flags, an invalid tenant file, an unsupported combination).</summary>
    public const int Usage = 2;

    /// <summary>Stopped by Ctrl+C or SIGTERM before it finished (128 + SIGINT, as shells report it).</summary>
    public const int Interrupted = 130;
}
