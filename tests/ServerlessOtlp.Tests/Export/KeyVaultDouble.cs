using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Security.KeyVault.Secrets;

namespace ServerlessOtlp.Tests.Export;

/// <summary>
/// Key Vault's secrets REST API in memory, behind the real <see cref="SecretClient"/> (its transport
/// is this handler): the client's challenge authentication, paths and JSON are the SDK's own. It
/// records every secret name asked for, so a test can show which names a resolver reaches.
/// </summary>
internal sealed class KeyVaultDouble : HttpMessageHandler
{
    public static readonly Uri VaultUri = new("https://tenants-test.vault.azure.net/");

    /// <summary>Names are case-insensitive in Key Vault.</summary>
    public ConcurrentDictionary<string, string> Secrets { get; } = new(StringComparer.OrdinalIgnoreCase);

    public ConcurrentQueue<string> Read { get; } = new();

    public ConcurrentQueue<string> Written { get; } = new();

    /// <summary>Answer every authenticated request 503, as a throttled or failing vault does.</summary>
    public bool Unavailable { get; set; }

    public SecretClient Client() => new(VaultUri, new StaticToken(), new SecretClientOptions
    {
        Transport = new HttpClientTransport(new HttpClient(this)),
        DisableChallengeResourceVerification = true,
        Retry = { MaxRetries = 0 },
    });

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.Headers.Authorization is null)
        {
            // Key Vault's first answer: the challenge naming the authority to get a token from.
            var challenge = new HttpResponseMessage(HttpStatusCode.Unauthorized);
            challenge.Headers.TryAddWithoutValidation("WWW-Authenticate", "Bearer authorization=\"https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000\", resource=\"https://vault.azure.net\"");
            return challenge;
        }

        if (Unavailable)
        {
            return Json(HttpStatusCode.ServiceUnavailable, new { error = new { code = "ServiceUnavailable", message = "try later" } });
        }

        // /secrets/{name}/{version?}
        string[] segments = request.RequestUri!.AbsolutePath.Trim('/').Split('/');
        if (segments.Length < 2 || segments[0] != "secrets")
        {
            return new HttpResponseMessage(HttpStatusCode.BadRequest);
        }

        string name = segments[1];
        if (request.Method == HttpMethod.Put)
        {
            using var body = JsonDocument.Parse(await request.Content!.ReadAsStringAsync(cancellationToken));
            Secrets[name] = body.RootElement.GetProperty("value").GetString()!;
            Written.Enqueue(name);
            return Bundle(name, Secrets[name]);
        }

        Read.Enqueue(name);
        return Secrets.TryGetValue(name, out string? value)
            ? Bundle(name, value)
            : Json(HttpStatusCode.NotFound, new { error = new { code = "SecretNotFound", message = $"A secret with (name/id) {name} was not found in this key vault." } });
    }

    private static HttpResponseMessage Bundle(string name, string value) =>
        Json(HttpStatusCode.OK, new { value, id = $"{VaultUri}secrets/{name}/0123456789abcdef", attributes = new { enabled = true } });

    private static HttpResponseMessage Json(HttpStatusCode status, object body) => new(status)
    {
        Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"),
    };

    private sealed class StaticToken : TokenCredential
    {
        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            new("test-token", DateTimeOffset.UtcNow.AddHours(1));

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            ValueTask.FromResult(GetToken(requestContext, cancellationToken));
    }
}
