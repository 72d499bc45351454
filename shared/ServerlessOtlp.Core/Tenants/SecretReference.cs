using System.Text.RegularExpressions;

namespace ServerlessOtlp.Tenants;

/// <summary>
/// A header value of the form <c>secret:NAME</c>: the exporter resolves NAME in the tenant's own
/// namespace (<see cref="TenantNamespace.SecretName"/>), so credentials are never stored in a
/// tenant config and a tenant can name no secret but its own.
/// </summary>
public static partial class SecretReference
{
    public const string Prefix = "secret:";

    /// <summary>
    /// A name inside the tenant's namespace: what Key Vault allows in a name, and short enough that
    /// <c>t-…--NAME</c> stays within Key Vault's 127 characters. No dot, colon, slash or underscore:
    /// nothing that reads as a configuration path.
    /// </summary>
    public const string NamePattern = @"^[A-Za-z0-9-]{1,64}\z";

    /// <summary>How <see cref="NamePattern"/> reads in a message.</summary>
    public const string NameExpected = "1 to 64 of A-Z a-z 0-9 -";

    /// <summary>True for <c>secret:NAME</c> with a valid NAME.</summary>
    public static bool TryParse(string? value, out string name)
    {
        if (value is not null && value.StartsWith(Prefix, StringComparison.Ordinal) && IsValidName(value.AsSpan(Prefix.Length)))
        {
            name = value[Prefix.Length..];
            return true;
        }

        name = "";
        return false;
    }

    /// <summary>True for anything starting with <c>secret:</c>, valid or not: it is never sent as it is.</summary>
    public static bool IsReference(string? value) => value is not null && value.StartsWith(Prefix, StringComparison.Ordinal);

    public static bool IsValidName(ReadOnlySpan<char> name) => NameRegex().IsMatch(name);

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
