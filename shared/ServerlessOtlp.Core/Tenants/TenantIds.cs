using System.Text.RegularExpressions;

namespace ServerlessOtlp.Tenants;

/// <summary>Tenant ids (CONTRACTS.md, "Gateway"): safe as a table key, a blob path segment and a URL segment.</summary>
public static partial class TenantIds
{
    // \z, not $: $ also matches before a final newline ("acme\n").
    public const string Pattern = @"^[A-Za-z0-9!_.*'()-]{1,150}\z";

    public static bool IsValid(string? id) =>
        id is not null and not "." and not ".." && IdRegex().IsMatch(id);

    /// <summary>Null when valid, else why not.</summary>
    public static string? Check(string? id) => id switch
    {
        null or "" => "is required",
        "." or ".." => $"\"{id}\" is not a valid tenant id",
        _ when !IdRegex().IsMatch(id) => $"\"{id}\" is not a valid tenant id; expected 1 to 150 of A-Z a-z 0-9 ! _ . * ' ( ) -",
        _ => null,
    };

    public static void ThrowIfInvalid(string id)
    {
        if (Check(id) is { } problem)
        {
            throw new ArgumentException($"tenant id {problem}", nameof(id));
        }
    }

    [GeneratedRegex(Pattern, RegexOptions.CultureInvariant)]
    private static partial Regex IdRegex();
}
