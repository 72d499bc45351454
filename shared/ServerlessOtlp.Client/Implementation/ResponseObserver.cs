using System.Net.Http.Headers;

namespace ServerlessOtlp.Client.Implementation;

/// <summary>
/// Sits in the HttpClient of each endpoint's SDK exporter (<c>OtlpExporterOptions.HttpClientFactory</c>,
/// which the SDK uses for OTLP/gRPC too) and records the gateway's answer — <c>grpc-status</c> and
/// the <c>RetryInfo</c> in <c>grpc-status-details-bin</c>, from the headers or the trailers — that
/// the SDK exporter reduces to Success/Failure. The answer goes to the <see cref="AttemptRecord"/>
/// of the export attempt in flight (an async-local box, so concurrent exports never mix).
/// </summary>
internal sealed class ResponseObserver(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    private static readonly AsyncLocal<AttemptRecord?> CurrentAttempt = new();

    /// <summary>Starts recording the answers of the calls made from this async flow.</summary>
    public static AttemptRecord Begin()
    {
        var record = new AttemptRecord();
        CurrentAttempt.Value = record;
        return record;
    }

    public static void End() => CurrentAttempt.Value = null;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var record = CurrentAttempt.Value;
        HttpResponseMessage response;
        try
        {
            response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            record?.Set(GatewayAnswer.NoAnswer);
            throw;
        }

        if (record == null)
        {
            return response;
        }

        try
        {
            if (!response.IsSuccessStatusCode)
            {
                record.Set(Header(response.Headers, "grpc-status") is { } s ? FromStatus(s, response.Headers) : GatewayAnswer.FromHttp((int)response.StatusCode));
                return response;
            }

            // A trailers-only answer (how the gateway refuses) has the status in the headers;
            // otherwise it is in the trailers, which arrive after the body (an export response is tiny).
            if (Header(response.Headers, "grpc-status") is { } inHeaders)
            {
                record.Set(FromStatus(inHeaders, response.Headers));
                return response;
            }

            await response.Content.LoadIntoBufferAsync(cancellationToken).ConfigureAwait(false);
            record.Set(Header(response.TrailingHeaders, "grpc-status") is { } inTrailers ? FromStatus(inTrailers, response.TrailingHeaders) : GatewayAnswer.NoAnswer);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
        {
            record.Set(GatewayAnswer.NoAnswer); // the SDK reads the same broken stream and fails too
        }

        return response;
    }

    private static GatewayAnswer FromStatus(string status, HttpHeaders headers) =>
        int.TryParse(status, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int code)
            ? GatewayAnswer.FromGrpc(code, GatewayAnswer.ParseRetryDelay(Header(headers, "grpc-status-details-bin")))
            : GatewayAnswer.FromGrpc(2, null);

    private static string? Header(HttpHeaders headers, string name) =>
        headers.NonValidated.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;
}

/// <summary>The answer seen for one export attempt (the last call's, if the SDK made several).</summary>
internal sealed class AttemptRecord
{
    private readonly Lock _lock = new();
    private GatewayAnswer? _answer;

    public GatewayAnswer? Answer
    {
        get
        {
            lock (_lock)
            {
                return _answer;
            }
        }
    }

    public void Set(GatewayAnswer answer)
    {
        lock (_lock)
        {
            _answer = answer;
        }
    }
}
