using ServerlessOtlp.Log;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Gateway.Health;

/// <summary>
/// What /readyz reports: what ingest needs — the log is open and the tenant store has answered since
/// start. After that, tenant lookups are served from the directory's cached answers through a store
/// outage, so a failing store (or a failing heartbeat write to the nodes table) does not take every
/// replica out of the ingress while the log takes data.
/// </summary>
internal sealed class Readiness
{
    /// <summary>A valid tenant id (an invalid one is refused before the store is asked), looked up only to see the store answer.</summary>
    internal const string ProbeTenantId = "__readiness-probe";

    private readonly IPartitionedLog? _log;
    private readonly ITenantDirectory? _tenants;
    private volatile string? _notReadyReason = "starting";
    private volatile bool _tenantsAnswered;

    public Readiness()
    {
    }

    public Readiness(IPartitionedLog log, ITenantDirectory tenants)
    {
        _log = log;
        _tenants = tenants;
    }

    public bool IsReady => _notReadyReason == null;

    public string? Reason => _notReadyReason;

    public void SetReady() => _notReadyReason = null;

    public void SetNotReady(string reason) => _notReadyReason = reason;

    /// <summary>Checks what ingest needs; called at start and then periodically until the tenant store answered once.</summary>
    public async Task CheckAsync(CancellationToken cancellationToken = default)
    {
        if (_log == null || _tenants == null)
        {
            SetReady();
            return;
        }

        try
        {
            _ = _log.PartitionCount; // throws until the log is open
        }
        catch (InvalidOperationException ex)
        {
            SetNotReady("log not open: " + ex.Message);
            return;
        }

        if (!_tenantsAnswered)
        {
            try
            {
                await _tenants.GetAsync(ProbeTenantId, cancellationToken);
                _tenantsAnswered = true;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                SetNotReady("tenant store unreachable: " + ex.Message);
                return;
            }
        }

        SetReady();
    }
}
