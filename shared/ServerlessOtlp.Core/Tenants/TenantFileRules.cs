namespace ServerlessOtlp.Tenants;

/// <summary>
/// What the deployment a tenant file is applied to allows, beyond the file's own rules. A
/// deployment (the default) resolves file destinations under the operator's root, so their paths
/// must be relative (<see cref="FileDestinationPaths"/>); <c>otlpctl dev</c> without a root uses
/// any path as written. Egress literals that are always refused (metadata addresses) are refused
/// everywhere.
/// </summary>
public sealed record TenantFileRules
{
    /// <summary>Paths under the operator's file root only.</summary>
    public static TenantFileRules Deployment { get; } = new();

    /// <summary>
    /// Paths as written: <c>otlpctl dev</c> without a file root, and <see cref="TenantStore"/>, which
    /// does not know the deployment (the file exporter refuses what its root does not allow).
    /// </summary>
    public static TenantFileRules AnyPath { get; } = new() { AnyFilePath = true };

    /// <summary>A file destination's path may be absolute or leave its directory.</summary>
    public bool AnyFilePath { get; init; }
}
