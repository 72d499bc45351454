using Microsoft.Azure.Amqp;
using Microsoft.Azure.Amqp.Framing;
using Microsoft.Azure.Amqp.Sasl;
using Microsoft.Azure.Amqp.Transport;

namespace ServerlessOtlp.EventHubsEmulator.Tests;

/// <summary>
/// A bare AMQP client (Microsoft.Azure.Amqp, the SDK's own stack) for what the SDK never does on purpose:
/// other SASL mechanisms, oversized transfers, vanishing without closing.
/// </summary>
internal sealed class RawAmqpClient : IAsyncDisposable
{
    private readonly AmqpConnection connection;

    private RawAmqpClient(AmqpConnection connection)
    {
        this.connection = connection;
    }

    public static async Task<RawAmqpClient> ConnectAsync(int port, SaslHandler sasl)
    {
        var saslProvider = new SaslTransportProvider();
        saslProvider.Versions.Add(new AmqpVersion(1, 0, 0));
        saslProvider.AddHandler(sasl);
        var amqpProvider = new AmqpTransportProvider();
        amqpProvider.Versions.Add(new AmqpVersion(1, 0, 0));
        var settings = new AmqpSettings();
        settings.TransportProviders.Add(saslProvider);
        settings.TransportProviders.Add(amqpProvider);

        var initiator = new AmqpTransportInitiator(settings, new TcpTransportSettings { Host = "127.0.0.1", Port = port });
        TransportBase transport = await initiator.ConnectTaskAsync(Emulators.Patience);
        var connection = new AmqpConnection(transport, settings, new AmqpConnectionSettings { ContainerId = "raw-client", HostName = "127.0.0.1" });
        await connection.OpenAsync(Emulators.Patience);
        return new RawAmqpClient(connection);
    }

    public async Task<SendingAmqpLink> OpenSenderAsync(string address)
    {
        AmqpSession session = await OpenSessionAsync();
        var link = new SendingAmqpLink(new AmqpLinkSettings
        {
            LinkName = $"raw-sender-{Guid.NewGuid():N}",
            Role = false,
            InitialDeliveryCount = 0,
            Source = new Source { Address = "raw-client" },
            Target = new Target { Address = address },
        });
        link.AttachTo(session);
        await link.OpenAsync(Emulators.Patience);
        return link;
    }

    public async Task<ReceivingAmqpLink> OpenReceiverAsync(string address)
    {
        AmqpSession session = await OpenSessionAsync();
        var link = new ReceivingAmqpLink(new AmqpLinkSettings
        {
            LinkName = $"raw-receiver-{Guid.NewGuid():N}",
            Role = true,
            TotalLinkCredit = 10,
            AutoSendFlow = true,
            SettleType = SettleMode.SettleOnSend,
            Source = new Source { Address = address },
            Target = new Target { Address = "raw-client" },
        });
        link.AttachTo(session);
        await link.OpenAsync(Emulators.Patience);
        return link;
    }

    /// <summary>The connection's state: End once either side closed it.</summary>
    public AmqpObjectState State => connection.State;

    /// <summary>Drops the TCP connection without AMQP close frames, as a crashed client would.</summary>
    public void Vanish() => connection.Abort();

    public async ValueTask DisposeAsync()
    {
        if (connection.State == AmqpObjectState.Opened)
        {
            await connection.CloseAsync(Emulators.Patience);
        }

        connection.Abort();
    }

    private async Task<AmqpSession> OpenSessionAsync()
    {
        AmqpSession session = connection.CreateSession(new AmqpSessionSettings());
        await session.OpenAsync(Emulators.Patience);
        return session;
    }
}
