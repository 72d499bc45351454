using System.Collections.Concurrent;
using Microsoft.Azure.Amqp;
using Microsoft.Azure.Amqp.Encoding;
using Microsoft.Azure.Amqp.Framing;

namespace ServerlessOtlp.EventHubsEmulator.Implementation;

/// <summary>
/// A request/response node ($cbs, $management): requests arrive on a link whose target is the node,
/// answers go out on the client's link from the node that the request's reply-to names.
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
            // Auto flow: a settled request gives its credit back, so a long-lived client (a dispatcher polling
            // partition properties, a connection opening many links) is not cut off after RequestCredit requests.
            requests.SetTotalLinkCredit(RequestCredit, applyNow: true, updateAutoFlow: true);
            requests.RegisterMessageListener(message => OnRequest(requests, message));
            return;
        }

        // The .NET SDK's reply-to is the reply link's target address; the JavaScript SDK's CBS client
        // leaves the target empty and names the link after its reply-to. Either finds the link.
        var replies = (SendingAmqpLink)link;
        string?[] names = [(link.Settings.Target as Target)?.Address?.ToString(), link.Name];
        foreach (string replyTo in names.OfType<string>().Where(name => name.Length > 0).Distinct())
        {
            // The newest link for an address wins; a closing one only removes itself.
            var key = (link.Session.Connection, replyTo);
            replyLinks[key] = replies;
            replies.SafeAddClosed((_, _) => replyLinks.TryRemove(new KeyValuePair<(AmqpConnection, string), SendingAmqpLink>(key, replies)));
        }
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
            // Settled here whether or not the client pre-settled it: disposing the delivery is what returns its credit.
            requests.DisposeDelivery(request, settled: true, AmqpConstants.AcceptedOutcome);

            string? replyTo = request.Properties?.ReplyTo?.ToString();
            if (replyTo is null || !replyLinks.TryGetValue((requests.Session.Connection, replyTo), out SendingAmqpLink? replies))
            {
                // The client would wait for an answer until it times out: say why, since it is a protocol mismatch.
                log.Error($"request to {Address} unanswered", new InvalidOperationException($"no link from {Address} answers reply-to '{replyTo}'"));
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
