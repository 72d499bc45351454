using System.Collections.Concurrent;
using Microsoft.Azure.Amqp;
using Microsoft.Azure.Amqp.Encoding;
using Microsoft.Azure.Amqp.Framing;

namespace ServerlessOtlp.EventHubsEmulator.Implementation;

/// <summary>
/// A request/response node ($cbs, $management): requests arrive on a link whose target is the node,
/// answers go out on the client's link from the node whose target is the request's reply-to.
/// Reply addresses are per connection: every CBS client uses the same one ("cbs").
/// </summary>
internal abstract class RequestResponseNode(string address, EmulatorLog log)
{
    /// <summary>Requests one client may have in flight on a node.</summary>
    private const uint RequestCredit = 50;

    private readonly ConcurrentDictionary<(AmqpConnection Connection, string Address), SendingAmqpLink> replyLinks = new();

    public string Address { get; } = address;

    public void Attach(AmqpLink link)
    {
        if (link is ReceivingAmqpLink requests)
        {
            requests.SetTotalLinkCredit(RequestCredit, applyNow: true);
            requests.RegisterMessageListener(message => OnRequest(requests, message));
            return;
        }

        var replies = (SendingAmqpLink)link;
        string replyTo = ((Target)link.Settings.Target).Address?.ToString() ?? string.Empty;
        var key = (link.Session.Connection, replyTo);

        // The newest link for an address wins; a closing one only removes itself.
        replyLinks[key] = replies;
        replies.SafeAddClosed((_, _) => replyLinks.TryRemove(new KeyValuePair<(AmqpConnection, string), SendingAmqpLink>(key, replies)));
    }

    protected abstract AmqpMessage Handle(AmqpMessage request);

    protected static AmqpMessage Response(int statusCode, string description, object? body = null)
    {
        AmqpMessage response = body is null ? AmqpMessage.Create() : AmqpMessage.Create(new AmqpValue { Value = body });
        response.ApplicationProperties = new ApplicationProperties();
        response.ApplicationProperties.Map["status-code"] = statusCode;
        response.ApplicationProperties.Map["status-description"] = description;
        return response;
    }

    private void OnRequest(ReceivingAmqpLink requests, AmqpMessage request)
    {
        try
        {
            if (!request.Settled)
            {
                requests.AcceptMessage(request, settled: true, batchable: false);
            }

            string? replyTo = request.Properties?.ReplyTo?.ToString();
            if (replyTo is null || !replyLinks.TryGetValue((requests.Session.Connection, replyTo), out SendingAmqpLink? replies))
            {
                return;
            }

            AmqpMessage response = Handle(request);
            response.Properties.CorrelationId = request.Properties!.MessageId;
            replies.SendMessageNoWait(response, AmqpConstants.EmptyBinary, AmqpConstants.NullBinary);
        }
        catch (Exception exception)
        {
            log.Error($"request to {Address} failed", exception);
        }
        finally
        {
            request.Dispose();
        }
    }
}
