using System.Runtime.InteropServices;

namespace ServerlessOtlp.Cli.Terminal;

/// <summary>
/// Ctrl+C (SIGINT), SIGTERM and SIGQUIT as one cancellation token: the signal is consumed (the
/// runtime does not terminate the process) so the command can stop cleanly: <c>dev</c> exits 0,
/// a command stopped before it finished exits 130 (<see cref="ExitCodes.Interrupted"/>).
/// </summary>
internal sealed class ShutdownSignal : IDisposable
{
    private static int _anyReceived;

    private readonly CancellationTokenSource _cts = new();
    private readonly List<PosixSignalRegistration> _registrations = [];

    public ShutdownSignal()
    {
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGQUIT })
        {
            _registrations.Add(PosixSignalRegistration.Create(signal, OnSignal));
        }
    }

    public CancellationToken Token => _cts.Token;

    /// <summary>Which signal stopped us, for the goodbye line.</summary>
    public PosixSignal? Received { get; private set; }

    /// <summary>True once any instance received a signal (an interrupted command exits 130).</summary>
    public static bool AnyReceived => Volatile.Read(ref _anyReceived) == 1;

    /// <summary>The exit code of a command that ran to its end, or was stopped by a signal on the way.</summary>
    public int ExitCode => Received is null ? ExitCodes.Ok : ExitCodes.Interrupted;

    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }

        _cts.Dispose();
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        Received ??= context.Signal;
        Volatile.Write(ref _anyReceived, 1);
        try
        {
            _cts.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
