using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace ServerlessOtlp.Export.Secrets;

/// <summary>
/// The upgrade window for <c>secret:NAME</c> references stored before secrets were namespaced
/// (section <c>ServerlessOtlp:SecretMigration</c>). Inside it a reference the tenant's namespace
/// cannot resolve is a transient failure (the batch waits in the retry store while the operator
/// runs <c>otlpctl secrets migrate</c>); after it, a permanent one (dead letter).
/// </summary>
public sealed record SecretMigrationOptions
{
    public const string Section = "ServerlessOtlp:SecretMigration";

    /// <summary>How long after this process first fails a tenant's reference that failure stays transient. Zero: never.</summary>
    public TimeSpan GracePeriod { get; init; } = TimeSpan.FromDays(7);

    /// <summary>When set, the window ends at this time instead, for every process alike (a restart does not reopen it).</summary>
    public DateTimeOffset? GraceUntil { get; init; }

    /// <summary>Reads <c>GracePeriod</c> (a TimeSpan, <c>7.00:00:00</c>) and <c>GraceUntil</c> (ISO 8601, e.g. <c>2025-07-01T00:00:00Z</c>).</summary>
    public static SecretMigrationOptions FromConfiguration(IConfiguration configuration)
    {
        var section = configuration.GetSection(Section);
        var options = new SecretMigrationOptions();
        if (section["GracePeriod"] is { } period)
        {
            options = options with
            {
                GracePeriod = TimeSpan.TryParse(period, CultureInfo.InvariantCulture, out var p) && p >= TimeSpan.Zero
                    ? p
                    : throw new InvalidOperationException($"{Section}:GracePeriod: \"{period}\" is not a duration such as 7.00:00:00"),
            };
        }

        if (section["GraceUntil"] is { } until)
        {
            options = options with
            {
                GraceUntil = DateTimeOffset.TryParse(until, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var u)
                    ? u
                    : throw new InvalidOperationException($"{Section}:GraceUntil: \"{until}\" is not a date such as 2025-07-01T00:00:00Z"),
            };
        }

        return options;
    }
}
