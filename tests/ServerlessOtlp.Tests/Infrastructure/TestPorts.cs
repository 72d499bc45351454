using System.Net;
using System.Net.Sockets;

namespace ServerlessOtlp.Tests.Infrastructure;

/// <summary>
/// Loopback TCP ports for the servers tests start (Azurite, Prometheus, gateways, child
/// processes), each handed out once per machine until its holder exits.
/// </summary>
/// <remarks>
/// Asking the kernel for port 0 and closing the socket is not enough: the kernel hands the same
/// number to the next caller soon after, and any outgoing connection may take it as its local
/// port before the server binds it (both seen in CI: Azurite given one port for blob and queue).
/// So ports come from below the kernel's ephemeral range (no outgoing connection ever uses
/// one), each is checked bindable, and each is reserved with a file holding this process's id,
/// so that the other test assemblies running beside this one skip it. A reservation whose
/// process is gone is taken over.
/// </remarks>
public static class TestPorts
{
    // Linux's default ip_local_port_range is 32768–60999; Azurite's defaults are 10000–10002.
    private const int First = 12000;
    private const int Last = 32000;

    private static readonly Lock Gate = new();
    private static readonly string Directory = Path.Combine(Path.GetTempPath(), "serverlessotlp-test-ports");
    private static readonly HashSet<int> Mine = [];
    private static int s_next = First + (Environment.ProcessId * 7919 % (Last - First));

    /// <summary>A port nobody on this machine listens on or was given by this class.</summary>
    public static int Next()
    {
        lock (Gate)
        {
            System.IO.Directory.CreateDirectory(Directory);
            for (int tries = 0; tries < Last - First; tries++)
            {
                int port = s_next;
                s_next = s_next >= Last ? First : s_next + 1;
                if (Mine.Contains(port) || !IsBindable(port) || !TryReserve(port))
                {
                    continue;
                }

                Mine.Add(port);
                return port;
            }

            throw new InvalidOperationException($"no free loopback port left in {First}–{Last}");
        }
    }

    /// <summary>Whether a start failed because another process took its port first (worth retrying on other ports).</summary>
    public static bool LostItsPort(string output) =>
        output.Contains("EADDRINUSE", StringComparison.Ordinal)
        || output.Contains("address already in use", StringComparison.OrdinalIgnoreCase)
        || output.Contains("Address in use", StringComparison.OrdinalIgnoreCase);

    private static bool IsBindable(int port)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static bool TryReserve(int port)
    {
        string file = Path.Combine(Directory, port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        for (int attempt = 0; attempt < 2; attempt++)
        {
            try
            {
                using var stream = new FileStream(file, FileMode.CreateNew, FileAccess.Write);
                stream.Write(System.Text.Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                return true;
            }
            catch (IOException)
            {
                if (!HolderIsGone(file))
                {
                    return false;
                }

                try
                {
                    File.Delete(file);
                }
                catch (IOException)
                {
                    return false;
                }
            }
        }

        return false;
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static bool HolderIsGone(string file)
    {
        try
        {
            if (!int.TryParse(File.ReadAllText(file), out int pid))
            {
                // Being written this instant, or garbage: only garbage that is old is stale.
                return File.GetLastWriteTimeUtc(file) < DateTime.UtcNow.AddMinutes(-1);
            }

            // Our own ports are in Mine, so a file naming this process is from an earlier one with the same id.
            return pid == Environment.ProcessId || !IsRunning(pid);
        }
        catch (IOException)
        {
            return false;
        }
    }
}
