using System.Text;
using System.Text.RegularExpressions;

namespace ServerlessOtlp.Agents;

/// <summary>
/// What the OpAMP server fills into a remote config body for the agent that asks (README, "Agents (OpAMP)").
/// The syntax is the Collector's own <c>${scheme:name}</c>: left unfilled, a Collector refuses the config
/// with "unknown provider", which is what a mistake should do.
/// <list type="bullet">
/// <item><c>${serverlessotlp:endpoint}</c>: the gateway's public OTLP/HTTP base URL (<c>ServerlessOtlp:Gateway:PublicUrl</c>).</item>
/// <item><c>${serverlessotlp:api_key}</c>: the API key the agent authenticated this poll with, echoed. Keys are
/// stored as keyed digests, so the server cannot hand out a stored key; it does not mint per-agent keys either
/// (a tenant's keys stay the ones its file lists, revoked in one place).</item>
/// <item><c>${serverlessotlp:tenant}</c>: the tenant id.</item>
/// </list>
/// </summary>
public static partial class AgentConfigPlaceholders
{
    public const string Endpoint = "${serverlessotlp:endpoint}";
    public const string ApiKey = "${serverlessotlp:api_key}";
    public const string Tenant = "${serverlessotlp:tenant}";

    private static readonly string[] Known = [Endpoint, ApiKey, Tenant];

    /// <summary>Problems with <c>${serverlessotlp:…}</c> names the server would not fill (apply-time check).</summary>
    public static IEnumerable<string> Unknown(string body)
    {
        foreach (Match m in PlaceholderRegex().Matches(body))
        {
            if (!Known.Contains(m.Value, StringComparer.Ordinal))
            {
                yield return $"unknown placeholder {m.Value}; the server fills {string.Join(", ", Known)}";
            }
        }
    }

    /// <summary>Whether a body uses the requesting agent's key (its rendered text then differs per key).</summary>
    public static bool UsesApiKey(string body) => body.Contains(ApiKey, StringComparison.Ordinal);

    /// <summary>The body with the placeholders filled.</summary>
    public static string Fill(string body, string endpoint, string apiKey, string tenant)
    {
        if (!body.Contains("${serverlessotlp:", StringComparison.Ordinal))
        {
            return body;
        }

        var sb = new StringBuilder(body);
        sb.Replace(Endpoint, endpoint).Replace(ApiKey, apiKey).Replace(Tenant, tenant);
        return sb.ToString();
    }

    [GeneratedRegex(@"\$\{serverlessotlp:[^}]*\}", RegexOptions.CultureInvariant)]
    private static partial Regex PlaceholderRegex();
}
