using System.Net.Sockets;
using Microsoft.Azure.Amqp;
using Microsoft.Azure.Amqp.Transport;

namespace ServerlessOtlp.EventHubsEmulator.Implementation;

/// <summary>
/// One accepted TCP connection as a Microsoft.Azure.Amqp transport. The library's own TcpTransport is internal,
/// so this implements the public <see cref="TransportBase"/> contract over a <see cref="Socket"/>: ReadAsync and
/// WriteAsync return false when the operation completed synchronously (the result is in the args) and true when
/// it is pending, in which case <see cref="TransportAsyncCallbackArgs.CompletedCallback"/> is invoked later, on
/// another thread, with <see cref="TransportAsyncCallbackArgs.CompletedSynchronously"/> false. A read of 0 bytes
/// is the peer's end of stream; a failure is reported in <see cref="TransportAsyncCallbackArgs.Exception"/>.
/// </summary>
internal sealed class SocketTransport : TransportBase
{
    private readonly Socket socket;
    private readonly string localEndPoint;
    private readonly string remoteEndPoint;
    private ITransportMonitor? monitor;

    public SocketTransport(Socket socket)
        : base("emulator-tcp")
    {
        this.socket = socket;
        socket.NoDelay = true;
        localEndPoint = socket.LocalEndPoint?.ToString() ?? "";
        remoteEndPoint = socket.RemoteEndPoint?.ToString() ?? "";
    }

    public override string LocalEndPoint => localEndPoint;

    public override string RemoteEndPoint => remoteEndPoint;

    public override void SetMonitor(ITransportMonitor usageMeter) => monitor = usageMeter;

    public override bool ReadAsync(TransportAsyncCallbackArgs args)
    {
        long started = Environment.TickCount64;
        ValueTask<int> read;
        try
        {
            read = socket.ReceiveAsync(new Memory<byte>(args.Buffer, args.Offset, args.Count), SocketFlags.None);
        }
        catch (Exception exception)
        {
            read = ValueTask.FromException<int>(exception);
        }

        return Complete(args, read, started, isRead: true);
    }

    public override bool WriteAsync(TransportAsyncCallbackArgs args)
    {
        long started = Environment.TickCount64;
        ValueTask<int> write;
        try
        {
            write = args.Buffer is not null
                ? SendAllAsync(new ReadOnlyMemory<byte>(args.Buffer, args.Offset, args.Count))
                : SendAllAsync(args.ByteBufferList);
        }
        catch (Exception exception)
        {
            write = ValueTask.FromException<int>(exception);
        }

        return Complete(args, write, started, isRead: false);
    }

    protected override bool CloseInternal()
    {
        try
        {
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception exception) when (exception is SocketException or ObjectDisposedException)
        {
            // The peer is already gone: nothing left to shut down.
        }

        socket.Dispose();
        return true;
    }

    protected override void AbortInternal() => socket.Dispose();

    /// <summary>Reports a completed operation in the args; true (pending) when the callback will follow.</summary>
    private bool Complete(TransportAsyncCallbackArgs args, ValueTask<int> operation, long started, bool isRead)
    {
        if (operation.IsCompleted)
        {
            int bytes;
            try
            {
                bytes = operation.GetAwaiter().GetResult();
            }
            catch (Exception exception)
            {
                Fail(args, exception, synchronously: true);
                return false;
            }

            Succeed(args, bytes, started, isRead, synchronously: true);
            return false;
        }

        // Not ExecuteSynchronously: the callback must never run inside this call, which has to return true first.
        operation.AsTask().ContinueWith(
            static (task, state) =>
            {
                var (transport, args, started, isRead) = ((SocketTransport, TransportAsyncCallbackArgs, long, bool))state!;
                if (task.IsCompletedSuccessfully)
                {
                    transport.Succeed(args, task.Result, started, isRead, synchronously: false);
                }
                else
                {
                    Fail(args, task.Exception?.InnerException ?? new OperationCanceledException(), synchronously: false);
                }

                args.CompletedCallback(args);
            },
            (this, args, started, isRead),
            CancellationToken.None,
            TaskContinuationOptions.None,
            TaskScheduler.Default);
        return true;
    }

    private void Succeed(TransportAsyncCallbackArgs args, int bytes, long started, bool isRead, bool synchronously)
    {
        args.BytesTransfered = bytes;
        args.Exception = null;
        args.CompletedSynchronously = synchronously;
        if (monitor is { } meter)
        {
            long latencyTicks = TimeSpan.FromMilliseconds(Environment.TickCount64 - started).Ticks;
            if (isRead)
            {
                meter.OnTransportRead(0, bytes, 0, latencyTicks);
            }
            else
            {
                meter.OnTransportWrite(0, bytes, 0, latencyTicks);
            }
        }
    }

    private static void Fail(TransportAsyncCallbackArgs args, Exception exception, bool synchronously)
    {
        args.Exception = exception;
        args.CompletedSynchronously = synchronously;
    }

    /// <summary>Sends every byte: the AMQP writers expect a write to complete whole.</summary>
    private async ValueTask<int> SendAllAsync(ReadOnlyMemory<byte> buffer)
    {
        int total = buffer.Length;
        while (!buffer.IsEmpty)
        {
            int sent = await socket.SendAsync(buffer, SocketFlags.None).ConfigureAwait(false);
            buffer = buffer[sent..];
        }

        return total;
    }

    /// <summary>A gathered write of the frames the connection queued.</summary>
    private async ValueTask<int> SendAllAsync(IList<ByteBuffer> buffers)
    {
        var segments = new List<ArraySegment<byte>>(buffers.Count);
        int total = 0;
        foreach (ByteBuffer buffer in buffers)
        {
            segments.Add(new ArraySegment<byte>(buffer.Buffer, buffer.Offset, buffer.Length));
            total += buffer.Length;
        }

        int remaining = total;
        int sent = await socket.SendAsync(segments, SocketFlags.None).ConfigureAwait(false);
        while (sent < remaining)
        {
            // A stream socket's send completes whole; should one ever stop short, send the rest.
            remaining -= sent;
            while (sent >= segments[0].Count)
            {
                sent -= segments[0].Count;
                segments.RemoveAt(0);
            }

            segments[0] = segments[0][sent..];
            sent = await socket.SendAsync(segments, SocketFlags.None).ConfigureAwait(false);
        }

        return total;
    }
}
