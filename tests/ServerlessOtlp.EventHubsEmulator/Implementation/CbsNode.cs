using Microsoft.Azure.Amqp;

namespace ServerlessOtlp.EventHubsEmulator.Implementation;

/// <summary>
/// Claims-based security: clients put a token before each send or receive link. Any token is accepted,
/// except a shared access signature signed with a key name the emulator does not have.
/// </summary>
internal sealed class CbsNode(string keyName, EmulatorLog log) : RequestResponseNode("$cbs", log)
{
    /// <summary>The SAS token field naming the key it was signed with.</summary>
    private const string KeyNameField = "skn=";

    protected override AmqpMessage Handle(AmqpMessage request)
    {
        var properties = request.ApplicationProperties?.Map;
        if (properties is null || !properties.TryGetValue("operation", out string? operation) || operation != "put-token")
        {
            return Response(400, "The only operation supported on $cbs is put-token.");
        }

        if (request.ValueBody?.Value is string token && NamesOtherKey(token, out string? named))
        {
            return Response(401, $"Unauthorized: the shared access key name '{named}' is not valid.");
        }

        return Response(202, "Accepted");
    }

    private bool NamesOtherKey(string token, out string? named)
    {
        named = null;
        if (!token.StartsWith("SharedAccessSignature ", StringComparison.Ordinal))
        {
            return false;
        }

        foreach (string field in token["SharedAccessSignature ".Length..].Split('&'))
        {
            if (field.StartsWith(KeyNameField, StringComparison.Ordinal))
            {
                named = Uri.UnescapeDataString(field[KeyNameField.Length..]);
                return named != keyName;
            }
        }

        return false;
    }
}
