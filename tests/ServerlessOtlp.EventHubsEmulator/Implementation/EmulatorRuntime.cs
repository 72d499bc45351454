using System.Collections.Concurrent;
using System.Net.Sockets;
using Microsoft.Azure.Amqp;
using Microsoft.Azure.Amqp.Encoding;
using Microsoft.Azure.Amqp.Framing;
using Microsoft.Azure.Amqp.Sasl;
using Microsoft.Azure.Amqp.Transport;

namespace ServerlessOtlp.EventHubsEmulator.Implementation;

/// <summary>
/// The AMQP side of the emulator: accepts connections on loopback (<see cref="LoopbackTransportListener"/>,
/// wrapped in the library's <see cref="AmqpTransportListener"/> for the header and SASL exchange), and routes
/// every link a client attaches to a node ($cbs, $management), a publisher (hub or hub/Partitions/N) or a
/// partition reader (hub/ConsumerGroups/G/Partitions/N). Refusing a link is throwing from <see cref="BeginOpenLink"/>: the
/// AMQP stack answers the attach with no terminus and a detach carrying the error.
/// </summary>
internal sealed class EmulatorRuntime : IRuntimeProvider
{
    /// <summary>The SDK's frame size (AmqpConnectionScope.CreateAmqpConnectionSettings).</summary>
    private const uint MaxFrameSize = 65_536;

    /// <summary>The idle timeout the service advertises; a silent peer's links are released after it.</summary>
    private const uint IdleTimeoutMilliseconds = 240_000;

    /// <summary>The SASL mechanism the Event Hubs SDK offers: anonymous, the token follows over $cbs.</summary>
    private const string CbsSaslMechanism = "MSSBCBS";

    private static readonly AmqpSymbol OwnerLevelProperty = "com.microsoft:epoch";
    private static readonly AmqpSymbol RuntimeMetricCapability = "com.microsoft:enable-receiver-runtime-metric";

    private readonly EventHub hub;
    private readonly EmulatorOptions options;
    private readonly EmulatorLog log;
    private readonly CbsNode cbs;
    private readonly ConcurrentDictionary<AmqpConnection, bool> connections = new();
    private readonly AmqpSettings amqpSettings;
    private readonly LoopbackTransportListener tcpListener;
    private readonly AmqpTransportListener listener;
    private readonly ManagementNode management;
    private Uri endpoint = new("sb://127.0.0.1/");

    public EmulatorRuntime(EventHub hub, EmulatorOptions options, EmulatorLog log)
    {
        this.hub = hub;
        this.options = options;
        this.log = log;
        cbs = new CbsNode(options.SharedAccessKeyName, log);

        // The endpoint (for not-found descriptions) is known once the listener has bound its port.
        management = new ManagementNode(hub, () => endpoint, options.TimeProvider, log);

        var sasl = new SaslTransportProvider();
        sasl.Versions.Add(new AmqpVersion(1, 0, 0));
        sasl.AddHandler(new SaslAnonymousHandler(CbsSaslMechanism));
        sasl.AddHandler(new SaslAnonymousHandler());
        sasl.AddHandler(new SaslPlainHandler(new AnyPlainCredential()));
        var amqp = new AmqpTransportProvider();
        amqp.Versions.Add(new AmqpVersion(1, 0, 0));
        amqpSettings = new AmqpSettings { RuntimeProvider = this };
        amqpSettings.TransportProviders.Add(sasl);
        amqpSettings.TransportProviders.Add(amqp);

        tcpListener = new LoopbackTransportListener(options.Port, log);
        listener = new AmqpTransportListener([tcpListener], amqpSettings);
    }

    public int Port { get; private set; }

    /// <summary>Binds (port 0: the OS chooses) and accepts connections.</summary>
    public void Start()
    {
        listener.Listen(OnAcceptTransport);
        Port = tcpListener.Port;
        endpoint = new Uri($"sb://127.0.0.1:{Port}/");
    }

    public void Stop()
    {
        listener.SafeClose();
        foreach (AmqpConnection connection in connections.Keys)
        {
            connection.SafeClose();
        }
    }

    public AmqpConnection CreateConnection(TransportBase transport, ProtocolHeader protocolHeader, bool isInitiator, AmqpSettings settings, AmqpConnectionSettings connectionSettings) =>
        new(transport, protocolHeader, isInitiator: false, settings, connectionSettings);

    public AmqpSession CreateSession(AmqpConnection connection, AmqpSessionSettings settings) =>
        new(connection, settings, this);

    public AmqpLink CreateLink(AmqpSession session, AmqpLinkSettings settings) =>
        settings.Role == true ? new ReceivingAmqpLink(session, settings) : new SendingAmqpLink(session, settings);

    public IAsyncResult BeginOpenLink(AmqpLink link, TimeSpan timeout, AsyncCallback callback, object state)
    {
        Route(link);

        // Routing is synchronous: hand the AMQP stack an already completed operation.
        var completed = new TaskCompletionSource(state);
        completed.SetResult();
        callback(completed.Task);
        return completed.Task;
    }

    public void EndOpenLink(IAsyncResult result)
    {
    }

    private void Route(AmqpLink link)
    {
        string address = (link.IsReceiver ? (link.Settings.Target as Target)?.Address : (link.Settings.Source as Source)?.Address)?.ToString()
            ?? throw new AmqpException(AmqpErrorCode.InvalidField, "The link has no address.");
        string node = address.TrimStart('/');
        if (node == cbs.Address)
        {
            cbs.Attach(link);
            return;
        }

        if (node == management.Address)
        {
            management.Attach(link);
            return;
        }

        EntityAddress entity = EntityAddress.Parse(address);
        if (link is ReceivingAmqpLink publisherLink)
        {
            AttachPublisher(publisherLink, entity);
        }
        else
        {
            AttachReader((SendingAmqpLink)link, entity);
        }
    }

    private void AttachPublisher(ReceivingAmqpLink link, EntityAddress entity)
    {
        if (!entity.IsPublisher(out string hubName, out string? partitionId) || !IsHub(hubName))
        {
            throw ServiceErrors.EntityNotFound($"{endpoint}{entity}");
        }

        PartitionLog? partition = null;
        if (partitionId is not null)
        {
            partition = hub.FindPartition(partitionId) ?? throw ServiceErrors.InvalidPartition(partitionId, hub.Partitions.Length);
        }

        new Publisher(link, hub, partition, options.MaxMessageSize, log).Attach();
    }

    private void AttachReader(SendingAmqpLink link, EntityAddress entity)
    {
        if (!entity.IsConsumer(out string hubName, out string consumerGroup, out string partitionId) || !IsHub(hubName))
        {
            throw ServiceErrors.EntityNotFound($"{endpoint}{entity}");
        }

        if (!hub.HasConsumerGroup(consumerGroup))
        {
            throw ServiceErrors.EntityNotFound($"{endpoint}{hub.Name}/ConsumerGroups/{consumerGroup}");
        }

        PartitionLog partition = hub.FindPartition(partitionId) ?? throw ServiceErrors.InvalidPartition(partitionId, hub.Partitions.Length);
        ReaderOwnership ownership = hub.FindReaders(consumerGroup, partitionId)!;
        AmqpLinkSettings settings = link.Settings;
        bool runtimeMetric = settings.DesiredCapabilities?.Contains(RuntimeMetricCapability) == true;
        var reader = new PartitionReader(
            link,
            partition,
            ownership,
            ReadOwnerLevel(settings.Properties),
            StartPosition.FromSource(settings.Source as Source, partition),
            runtimeMetric,
            options.TimeProvider,
            log);

        // The service always pre-settles what it delivers, whatever the client asked for, and answers the
        // capabilities it honours rather than echoing the client's wishes.
        settings.SettleType = SettleMode.SettleOnSend;
        settings.DesiredCapabilities = null;
        settings.OfferedCapabilities = runtimeMetric ? new Multiple<AmqpSymbol>([RuntimeMetricCapability]) : null;
        reader.Attach();
    }

    private bool IsHub(string name) => string.Equals(name, hub.Name, StringComparison.OrdinalIgnoreCase);

    /// <summary>The SDK sends the owner level as an AMQP long; other clients may send a narrower integer.</summary>
    private static long? ReadOwnerLevel(Fields? properties)
    {
        if (properties is null || !properties.TryGetValue(OwnerLevelProperty, out object? value) || value is null)
        {
            return null;
        }

        return value switch
        {
            long level => level,
            int level => level,
            uint level => level,
            short level => level,
            ushort level => level,
            sbyte level => level,
            byte level => level,
            ulong level when level <= long.MaxValue => (long)level,
            _ => throw new AmqpException(AmqpErrorCode.InvalidField, $"The owner level '{value}' is not an integer."),
        };
    }

    private void OnAcceptTransport(TransportListener source, TransportAsyncCallbackArgs args)
    {
        var connectionSettings = new AmqpConnectionSettings
        {
            ContainerId = "eventhubs-emulator",
            MaxFrameSize = MaxFrameSize,
            IdleTimeOut = IdleTimeoutMilliseconds,
        };

        AmqpConnection? connection = null;
        try
        {
            connection = CreateConnection(args.Transport, (ProtocolHeader)args.UserToken, isInitiator: false, amqpSettings, connectionSettings);
            connections[connection] = true;
            AmqpConnection accepted = connection;
            connection.SafeAddClosed((_, _) => connections.TryRemove(accepted, out _));
            connection.BeginOpen(AmqpConstants.DefaultTimeout, OnConnectionOpened, connection);
        }
        catch (Exception exception)
        {
            log.Error("accepting a connection failed", exception);
            if (connection is null)
            {
                args.Transport.Abort();
            }
            else
            {
                connection.SafeClose(exception);
            }
        }
    }

    private void OnConnectionOpened(IAsyncResult result)
    {
        var connection = (AmqpConnection)result.AsyncState!;
        try
        {
            connection.EndOpen(result);
        }
        catch (Exception exception)
        {
            // A client that goes away during the handshake is ordinary; anything else is worth a line.
            if (exception is not (IOException or SocketException or TimeoutException or OperationCanceledException or ObjectDisposedException))
            {
                log.Error("opening a connection failed", exception);
            }

            connection.SafeClose(exception);
        }
    }

    /// <summary>SASL PLAIN (offered for generic AMQP clients): any user name and password.</summary>
    private sealed class AnyPlainCredential : ISaslPlainAuthenticator
    {
        public Task<System.Security.Principal.IPrincipal> AuthenticateAsync(string identity, string password) =>
            Task.FromResult<System.Security.Principal.IPrincipal>(
                new System.Security.Principal.GenericPrincipal(new System.Security.Principal.GenericIdentity(identity), []));
    }
}
