namespace ServerlessOtlp.Gateway.Health;

/// <summary>What /readyz reports: the log is open and the tenants table answered recently.</summary>
public sealed class Readiness
{
    private volatile string? _notReadyReason = "starting";

    public bool IsReady => _notReadyReason == null;

    public string? Reason => _notReadyReason;

    public void SetReady() => _notReadyReason = null;

    public void SetNotReady(string reason) => _notReadyReason = reason;
}
