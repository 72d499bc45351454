using System.Net;
using System.Net.Sockets;
using System.Text;
using Azure.Messaging.EventHubs.Consumer;
using Azure.Messaging.EventHubs.Producer;
using Microsoft.Azure.Amqp;
using Microsoft.Azure.Amqp.Sasl;

namespace ServerlessOtlp.EventHubsEmulator.Tests;

/// <summary>The emulator's own TCP listener: the port it binds, what it refuses, and how it stops.</summary>
public sealed class ListenerTests
{
    [Fact]
    public async Task PortInUse_FailsToStartWithAddressAlreadyInUse()
    {
        using var occupant = new TcpListener(IPAddress.Loopback, 0);
        occupant.Start();
        int port = ((IPEndPoint)occupant.LocalEndpoint).Port;

        SocketException refused = await Assert.ThrowsAsync<SocketException>(() => Emulators.StartAsync(configure: o => o.Port = port));

        Assert.Equal(SocketError.AddressAlreadyInUse, refused.SocketErrorCode);
    }

    [Fact]
    public async Task SecondEmulatorOnTheSamePort_IsRefused_RatherThanSharingIt()
    {
        await using EventHubsEmulator first = await Emulators.StartAsync();

        SocketException refused = await Assert.ThrowsAsync<SocketException>(() => Emulators.StartAsync(configure: o => o.Port = first.Port));

        Assert.Equal(SocketError.AddressAlreadyInUse, refused.SocketErrorCode);
    }

    [Fact]
    public async Task Dispose_ClosesOpenConnections_AndStopsAccepting()
    {
        EventHubsEmulator emulator = await Emulators.StartAsync();
        int port = emulator.Port;
        await using RawAmqpClient client = await RawAmqpClient.ConnectAsync(port, new SaslAnonymousHandler("MSSBCBS"));
        await client.OpenReceiverAsync("otlp/ConsumerGroups/$Default/Partitions/0");

        await emulator.DisposeAsync();

        await Emulators.WaitUntilAsync(() => client.State == AmqpObjectState.End, "the emulator closed the client's connection");
        using var late = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        SocketException refused = await Assert.ThrowsAsync<SocketException>(() => late.ConnectAsync(IPAddress.Loopback, port));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }

    [Fact]
    public async Task Restart_OnTheSamePort_RightAfterDispose_Binds()
    {
        int port;
        await using (EventHubsEmulator first = await Emulators.StartAsync())
        {
            port = first.Port;
            await Emulators.SendAsync(first, "0", Emulators.Event("before the restart"));
        }

        // The first emulator's connections may linger in TIME_WAIT; binding the listening port again must work.
        await using EventHubsEmulator second = await Emulators.StartAsync(configure: o => o.Port = port);
        await Emulators.SendAsync(second, "0", Emulators.Event("after the restart"));

        Assert.Equal(port, second.Port);
        PartitionEvent read = (await Emulators.ReadAsync(second, "0", EventPosition.Earliest, 1)).Single();
        Assert.Equal("after the restart", read.Data.EventBody.ToString());
    }

    [Fact]
    public async Task ClientsThatAreNotAmqp_OrLeaveMidHeader_AreDropped_AndTheListenerKeepsServing()
    {
        var errors = new StringWriter();
        await using EventHubsEmulator emulator = await Emulators.StartAsync(configure: o => o.ErrorLog = errors);

        // An HTTP client: not an AMQP header, so the AMQP stack hangs up without a word.
        using (Socket http = await ConnectAsync(emulator.Port))
        {
            await http.SendAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), SocketFlags.None);
            Assert.Empty(await ReadUntilClosedAsync(http));
        }

        // An AMQP header for a protocol not offered (2: TLS): answered with one that is, then closed.
        using (Socket tls = await ConnectAsync(emulator.Port))
        {
            await tls.SendAsync(new byte[] { (byte)'A', (byte)'M', (byte)'Q', (byte)'P', 2, 1, 0, 0 }, SocketFlags.None);
            byte[] reply = await ReadUntilClosedAsync(tls);
            Assert.Equal(8, reply.Length);
            Assert.Equal("AMQP"u8.ToArray(), reply[..4]);
            Assert.NotEqual(2, reply[4]);
        }

        // A client that sends half a protocol header and resets the connection.
        using (Socket halfway = await ConnectAsync(emulator.Port))
        {
            await halfway.SendAsync("AMQ"u8.ToArray(), SocketFlags.None);
            halfway.LingerState = new LingerOption(enable: true, seconds: 0);
        }

        await using var producer = new EventHubProducerClient(emulator.ConnectionString);
        await producer.SendAsync([Emulators.Event("still serving")], new SendEventOptions { PartitionId = "1" });

        Assert.Equal(1, emulator.GetPartition("1").RetainedEvents);
        Assert.Equal(string.Empty, errors.ToString());
    }

    private static async Task<Socket> ConnectAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port);
        return socket;
    }

    /// <summary>Everything the emulator sends before it closes the connection (gracefully or with a reset).</summary>
    private static async Task<byte[]> ReadUntilClosedAsync(Socket socket)
    {
        using var deadline = new CancellationTokenSource(Emulators.Patience);
        var received = new MemoryStream();
        var buffer = new byte[256];
        while (true)
        {
            int count;
            try
            {
                count = await socket.ReceiveAsync(buffer, SocketFlags.None, deadline.Token);
            }
            catch (SocketException exception) when (exception.SocketErrorCode == SocketError.ConnectionReset)
            {
                return received.ToArray();
            }

            if (count == 0)
            {
                return received.ToArray();
            }

            received.Write(buffer, 0, count);
        }
    }
}
