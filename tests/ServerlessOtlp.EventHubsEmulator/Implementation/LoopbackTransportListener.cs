using System.Net;
using System.Net.Sockets;
using Microsoft.Azure.Amqp;
using Microsoft.Azure.Amqp.Transport;

namespace ServerlessOtlp.EventHubsEmulator.Implementation;

/// <summary>
/// Accepts TCP connections on 127.0.0.1 with a socket of our own, so the bound port (the OS's choice for port 0)
/// is known, and hands each one to the AMQP stack as a <see cref="SocketTransport"/> through the public
/// <see cref="TransportListener"/> contract: <see cref="AmqpTransportListener"/> wraps this listener and does
/// the protocol header, SASL and AMQP upgrades on every transport it is given.
/// </summary>
internal sealed class LoopbackTransportListener : TransportListener
{
    /// <summary>How long to wait before accepting again after an error that is not the client's doing (e.g. out of descriptors).</summary>
    private static readonly TimeSpan AcceptRetryDelay = TimeSpan.FromMilliseconds(100);

    private readonly int port;
    private readonly EmulatorLog log;
    private Socket? listenSocket;
    private volatile bool closed;

    public LoopbackTransportListener(int port, EmulatorLog log)
        : base("emulator-tcp-listener")
    {
        this.port = port;
        this.log = log;
    }

    /// <summary>The bound port, known once listening; throws before.</summary>
    public int Port => ((IPEndPoint)(listenSocket?.LocalEndPoint ?? throw new InvalidOperationException("The listener is not listening."))).Port;

    /// <summary>Binds and starts accepting; a port that cannot be bound throws <see cref="SocketException"/>.</summary>
    protected override void OnListen()
    {
        // No ReuseAddress: on Linux .NET maps it to SO_REUSEPORT too, which would let a second process share the
        // port. Rebinding a port whose old connections are in TIME_WAIT works without it (.NET sets SO_REUSEADDR).
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
            socket.Listen();
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        listenSocket = socket;
        _ = AcceptLoopAsync(socket);
    }

    protected override bool CloseInternal()
    {
        StopListening();
        return true;
    }

    protected override void AbortInternal() => StopListening();

    private void StopListening()
    {
        closed = true;
        listenSocket?.Dispose();
    }

    private async Task AcceptLoopAsync(Socket socket)
    {
        while (!closed)
        {
            Socket accepted;
            try
            {
                accepted = await socket.AcceptAsync().ConfigureAwait(false);
            }
            catch (Exception) when (closed)
            {
                return;
            }
            catch (SocketException exception) when (exception.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
            {
                // The client left before it was accepted.
                continue;
            }
            catch (SocketException exception)
            {
                log.Error("accepting a connection failed", exception);
                await Task.Delay(AcceptRetryDelay).ConfigureAwait(false);
                continue;
            }
            catch (Exception exception)
            {
                // The listener is unusable: closing it with the error closes the AmqpTransportListener above it.
                log.Error("the listener stopped", exception);
                SafeClose(exception);
                return;
            }

            Hand(accepted);
        }
    }

    private void Hand(Socket accepted)
    {
        SocketTransport? transport = null;
        try
        {
            if (closed)
            {
                accepted.Dispose();
                return;
            }

            transport = new SocketTransport(accepted);
            transport.Open();

            // Not completed synchronously: the base class then notifies the AmqpTransportListener on this thread,
            // and it schedules the header and SASL exchange elsewhere.
            OnTransportAccepted(new TransportAsyncCallbackArgs { Transport = transport, CompletedSynchronously = false });
        }
        catch (Exception exception)
        {
            // E.g. the client reset the connection before its endpoints could be read.
            if (exception is not (SocketException or ObjectDisposedException))
            {
                log.Error("accepting a connection failed", exception);
            }

            if (transport is null)
            {
                accepted.Dispose();
            }
            else
            {
                transport.Abort();
            }
        }
    }
}
