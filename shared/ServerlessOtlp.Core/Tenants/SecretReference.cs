using System.Text.RegularExpressions;

namespace ServerlessOtlp.Tenants;

/// <summary>
/// A header value of the form <c>secret:NAME</c>: the exporter resolves NAME from configuration
/// or Key Vault, so credentials are never stored in a tenant config.
/// </summary>
public static partial class SecretReference
{
    public const string Prefix = "secret:";

    /// <summary>A configuration key or Key Vault secret name.</summary>
    public const string NamePattern = "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,126}$";

    public static bool TryParse(string? value, out string name)
    {
        if (value is not null && value.StartsWith(Prefix, StringComparison.Ordinal) && NameRegex().IsMatch(value.AsSpan(Prefix.Length)))
        {
            name = value[Prefix.Length..];
            return true;
        }

        name = "";
        return false;
    }

    public static bool IsReference(string? value) => value is not null && value.StartsWith(Prefix, StringComparison.Ordinal);

    /// <summary>
    /// Headers whose value is a credential: <c>Authorization</c>, <c>Proxy-Authorization</c>,
    /// <c>Cookie</c>, and any name containing token, key, secret, password or credential.
    /// </summary>
    public static bool IsCredentialHeader(string name)
    {
        foreach (string word in CredentialWords)
        {
            if (name.Contains(word, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private static readonly string[] CredentialWords = ["authorization", "cookie", "token", "key", "secret", "password", "credential"];

    [GeneratedRegex(NamePattern, RegexOptions.CultureInvariant)]
    private static partial Regex NameRegex();
}
