using ServerlessOtlp.Gateway.Ingest;
using ServerlessOtlp.Gateway.Protocol;
using ServerlessOtlp.Gateway.Telemetry;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Gateway.Security;

/// <summary>Who a request belongs to, or why it is refused.</summary>
internal readonly record struct Authentication(TenantConfig? Tenant, IngestResult Failure)
{
    public bool Succeeded => Tenant != null;
}

/// <summary>
/// Authenticates a request from its headers alone, before any of its body is read: the API key
/// (<c>x-api-key</c> or <c>Authorization: Bearer</c>) names the tenant, nothing else does. One
/// place for OTLP/gRPC, OTLP/HTTP and OpAMP, so the same limits hold at every entry point.
/// </summary>
internal sealed class RequestAuthenticator(
    ITenantDirectory tenants,
    AuthFailureLimiter failures,
    GatewayOptions options,
    GatewayMetrics metrics,
    TenantLookupFailures lookupFailures)
{
    /// <param name="signal">For the refusal counters; null for a surface that carries no signal (OpAMP).</param>
    public async ValueTask<Authentication> AuthenticateAsync(HttpContext http, Signal? signal, CancellationToken cancellationToken)
    {
        var key = ApiKeys.FromHeaders(http.Request.Headers[ApiKeys.ApiKeyHeader], http.Request.Headers.Authorization);
        var address = ClientAddress.Of(http, options.TrustedProxyHops);
        bool blocked = failures.IsBlocked(address, out var wait);
        TenantConfig? tenant = null;
        if (key != null)
        {
            try
            {
                // An address that keeps failing gets only answers the gateway already holds: no storage call for it.
                if (!blocked)
                {
                    tenant = await tenants.AuthenticateAsync(key, cancellationToken);
                }
                else
                {
                    tenants.TryAuthenticateFromMemory(key, out tenant);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The tenant store is unreachable and nothing cached answers: retryable, not an unhandled error.
                lookupFailures.Failed(ex);
                Refused(signal, "tenants_unavailable");
                return new(null, IngestResult.Fail(IngestOutcome.LogUnavailable, "the tenant directory is unreachable; retry later", TimeSpan.FromSeconds(options.RetryAfterSeconds)));
            }
        }

        if (tenant != null)
        {
            return new(tenant, default);
        }

        failures.Failed(address);
        if (blocked)
        {
            Refused(signal, "auth_throttled");
            return new(null, IngestResult.Fail(IngestOutcome.RateLimited, "too many failed authentications from this address; retry later", wait));
        }

        Refused(signal, "unauthenticated");
        return new(null, IngestResult.Fail(IngestOutcome.Unauthenticated, key == null ? "missing API key: send x-api-key or Authorization: Bearer" : "unknown API key"));
    }

    private void Refused(Signal? signal, string reason)
    {
        if (signal is { } s)
        {
            metrics.Refused(null, s, reason, 0);
        }
    }
}
