using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Cli.Local;

/// <summary>What <see cref="DevTenant.EnsureAsync"/> found or did.</summary>
/// <param name="Key">The new plain key when the tenant was created now; null otherwise (it is never stored).</param>
internal sealed record DevTenantResult(bool Created, bool Skipped, string? Key);

/// <summary>
/// The tenant <c>otlpctl dev</c> seeds when no tenant exists: id <c>dev</c>, a generated key
/// (printed once), and a file destination for all three signals under the data dir.
/// </summary>
internal static class DevTenant
{
    public const string Id = "dev";

    public const string DestinationName = "files";

    /// <summary>The dev tenant's path when the operator has a file root: relative, under the tenant's namespace.</summary>
    public const string RelativeOutput = "out";

    /// <summary>Creates tenant <c>dev</c> unless tenants exist; its file destination writes to <paramref name="outputDir"/> (made absolute unless it is <see cref="RelativeOutput"/>).</summary>
    public static async Task<DevTenantResult> EnsureAsync(TenantStore store, string outputDir, CancellationToken cancellationToken = default)
    {
        if (await store.GetAsync(Id, cancellationToken) != null)
        {
            return new DevTenantResult(Created: false, Skipped: false, Key: null);
        }

        if ((await store.ListAsync(cancellationToken)).Count > 0)
        {
            return new DevTenantResult(Created: false, Skipped: true, Key: null);
        }

        // AddAsync makes the tenant and its one key; the apply then sets the config and, with
        // ApiKeys null, leaves the keys alone.
        string key = await store.AddAsync(Id, cancellationToken);
        await store.ApplyAsync(new TenantFile { Tenants = [Config(outputDir)] }, cancellationToken);
        return new DevTenantResult(Created: true, Skipped: false, Key: key);
    }

    public static TenantConfig Config(string outputDir) => new()
    {
        Id = Id,
        Destinations =
        [
            new DestinationConfig
            {
                Name = DestinationName,
                Kind = FileDestination.KindName,
                Signals = [Signal.Traces, Signal.Metrics, Signal.Logs],
                Settings = new FileSettings { Path = outputDir == RelativeOutput ? outputDir : Path.GetFullPath(outputDir) },
            },
        ],
    };
}
