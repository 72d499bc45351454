using System.Net.Http.Headers;
using System.Text;
using ServerlessOtlp.Export.Egress;

namespace ServerlessOtlp.Export;

/// <summary>
/// What every HTTP destination kind shares (the Collector's <c>exporterhelper</c> and <c>confighttp</c>):
/// the tenant's connections behind the egress policy (bounded connection lifetime, no redirects
/// followed), headers with secrets resolved in the tenant's namespace and the operator's pinned ones,
/// the destination's timeout, the answer read up to <see cref="BoundedContent.MaxBytes"/>, and the
/// failures every kind classifies alike (refused by the policy: permanent; connection failures and
/// timeouts: transient; a redirect: permanent). A kind builds its body and reads the answer's meaning.
/// </summary>
internal abstract class HttpDestinationExporter : IDestinationExporter
{
    /// <summary>Used when the destination has no timeout (Prometheus's <c>remote_timeout</c>, Loki's client default).</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    protected HttpDestinationExporter(DestinationServices services)
    {
        Services = services;
    }

    public abstract string Kind { get; }

    protected DestinationServices Services { get; }

    protected DateTimeOffset Now => Services.Time.GetUtcNow();

    /// <summary>The endpoint as given, or with <paramref name="defaultPath"/> when it has no path; false when it is not an absolute http(s) URL.</summary>
    public static bool TryEndpoint(string? endpoint, string defaultPath, out Uri uri)
    {
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out uri!) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            return false;
        }

        if (uri.AbsolutePath is "" or "/")
        {
            uri = new UriBuilder(uri) { Path = defaultPath }.Uri;
        }

        return true;
    }

    public async Task<ExportOutcome> ExportAsync(ExportRequest request, CancellationToken cancellationToken = default)
    {
        var resolved = await Services.Headers.ResolveAsync(request.Tenant.Id, request.Destination, cancellationToken);
        if (resolved.Failure is { } failure)
        {
            return failure;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(request.Destination.Timeout ?? DefaultTimeout);
        var session = new HttpExportSession(Kind, Services.Egress.HttpClientFor(request.Tenant.Id), resolved.Headers, timeout.Token);
        try
        {
            return await ExportAsync(request, session);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return ExportOutcome.Transient($"{Kind}: no answer within {(request.Destination.Timeout ?? DefaultTimeout).TotalSeconds:0.#} s");
        }
    }

    /// <summary>The kind's part: build the body(ies), <see cref="HttpExportSession.PostAsync"/> them, read the answers.</summary>
    protected abstract Task<ExportOutcome> ExportAsync(ExportRequest request, HttpExportSession session);
}

/// <summary>One export's requests to one destination: its client, its resolved headers, its timeout.</summary>
internal sealed class HttpExportSession
{
    private static readonly ProductInfoHeaderValue UserAgent = new("ServerlessOtlp", typeof(HttpExportSession).Assembly.GetName().Version?.ToString(3) ?? "0");

    private readonly string _kind;
    private readonly HttpClient _client;
    private readonly IReadOnlyList<KeyValuePair<string, string>> _headers;

    internal HttpExportSession(string kind, HttpClient client, IReadOnlyList<KeyValuePair<string, string>> headers, CancellationToken cancellationToken)
    {
        _kind = kind;
        _client = client;
        _headers = headers;
        CancellationToken = cancellationToken;
    }

    /// <summary>The caller's cancellation and the destination's timeout.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>
    /// POSTs <paramref name="content"/> (owned and disposed here) with the destination's headers
    /// (<paramref name="extra"/> first, so the tenant's own cannot replace them). The answer, or a
    /// failure every kind treats alike (<see cref="HttpAnswer.Failure"/>).
    /// </summary>
    public async Task<HttpAnswer> PostAsync(Uri url, HttpContent content, IEnumerable<KeyValuePair<string, string>>? extra = null)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, url) { Content = content };
        message.Headers.UserAgent.Add(UserAgent);
        foreach (var (name, value) in extra ?? [])
        {
            message.Headers.TryAddWithoutValidation(name, value);
        }

        foreach (var (name, value) in _headers)
        {
            if (!message.Headers.TryAddWithoutValidation(name, value))
            {
                content.Headers.TryAddWithoutValidation(name, value);
            }
        }

        HttpResponseMessage response;
        try
        {
            response = await _client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, CancellationToken);
        }
        catch (HttpRequestException ex) when (EgressRefusedException.In(ex) is { } refused)
        {
            return HttpAnswer.Failed(ExportOutcome.Permanent($"{_kind}: {refused.Message}"));
        }
        catch (HttpRequestException ex)
        {
            // Connection refused, reset, DNS: the OTLP specification treats these as retryable.
            return HttpAnswer.Failed(ExportOutcome.Transient($"{_kind}: request failed: {ex.Message}"));
        }

        using (response)
        {
            int status = (int)response.StatusCode;
            if (status is >= 300 and < 400)
            {
                return HttpAnswer.Failed(ExportOutcome.Permanent($"{_kind}: {BoundedContent.RedirectMessage(response)}"));
            }

            var (body, truncated) = await BoundedContent.ReadAsync(response.Content, CancellationToken);
            return new HttpAnswer(status, response.ReasonPhrase, body, truncated, response.Content.Headers.ContentType?.MediaType, response.Headers.RetryAfter);
        }
    }
}

/// <summary>A backend's answer, its body cut at <see cref="BoundedContent.MaxBytes"/>; or the failure that stood for one.</summary>
internal sealed record HttpAnswer(int Status, string? Reason, byte[] Body, bool Truncated, string? MediaType, RetryConditionHeaderValue? RetryAfterHeader)
{
    /// <summary>Set when there was no answer to read (connection failure, policy refusal, redirect).</summary>
    public ExportOutcome? Failure { get; private init; }

    public bool IsSuccess => Failure is null && Status is >= 200 and < 300;

    /// <summary>The body as text, with "…" when it was cut.</summary>
    public string Text => Encoding.UTF8.GetString(Body) + (Truncated ? "…" : "");

    /// <summary>The body for a message: at most 512 characters, trimmed.</summary>
    public string Excerpt
    {
        get
        {
            string text = Text;
            return text.Length <= 512 ? text.Trim() : text[..512].Trim() + "…";
        }
    }

    /// <summary>The backend's wait (<c>Retry-After</c>), relative to <paramref name="now"/>.</summary>
    public TimeSpan? RetryAfter(DateTimeOffset now) => OtlpRetryRules.RetryAfter(RetryAfterHeader, now);

    internal static HttpAnswer Failed(ExportOutcome failure) => new(0, null, [], false, null, null) { Failure = failure };
}
