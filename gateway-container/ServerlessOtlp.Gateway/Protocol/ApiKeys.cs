namespace ServerlessOtlp.Gateway.Protocol;

/// <summary>Reads the API key from <c>x-api-key</c> or <c>Authorization: Bearer</c>.</summary>
internal static class ApiKeys
{
    public const string ApiKeyHeader = "x-api-key";
    public const string AuthorizationHeader = "authorization";

    public static string? FromHeaders(string? apiKey, string? authorization)
    {
        if (!string.IsNullOrWhiteSpace(apiKey))
        {
            return apiKey.Trim();
        }

        if (authorization != null && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            var token = authorization.AsSpan(7).Trim();
            return token.IsEmpty ? null : token.ToString();
        }

        return null;
    }
}
