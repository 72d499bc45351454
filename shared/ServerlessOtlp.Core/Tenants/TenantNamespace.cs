using System.Security.Cryptography;
using System.Text;

namespace ServerlessOtlp.Tenants;

/// <summary>
/// A tenant's namespace: the one name under which its secrets (Key Vault, configuration) and its
/// files (under the operator's file root) live. Tenant ids are case-sensitive and may hold
/// <c>!_.*'()</c>, while Key Vault names and .NET configuration keys are case-insensitive and
/// allow neither, so the id itself cannot be the namespace: <c>t-</c> + the first
/// <see cref="HashChars"/> characters of the lowercase, unpadded base32 of SHA-256(UTF-8 id).
/// 130 bits of the hash: two ids sharing a namespace would be a SHA-256 collision on them.
/// </summary>
public static class TenantNamespace
{
    public const string Prefix = "t-";

    /// <summary>Base32 characters kept (5 bits each: 130 bits).</summary>
    public const int HashChars = 26;

    /// <summary>Between the namespace and a secret's NAME: Key Vault allows dashes only.</summary>
    public const string SecretSeparator = "--";

    /// <summary>Length of every namespace: <c>t-</c> and the hash.</summary>
    public const int Length = 2 + HashChars;

    // RFC 4648 §6 alphabet, lowercase: a Key Vault name and a directory name on any file system.
    private const string Alphabet = "abcdefghijklmnopqrstuvwxyz234567";

    /// <summary>The namespace of a tenant id, e.g. <c>t-mfrggzdfmztwq2lknnwg23tpob</c>.</summary>
    public static string Of(string tenantId)
    {
        ArgumentNullException.ThrowIfNull(tenantId);
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(tenantId), hash);
        Span<char> name = stackalloc char[Length];
        name[0] = 't';
        name[1] = '-';
        int bits = 0, buffer = 0, at = 2, next = 0;
        while (at < name.Length)
        {
            if (bits < 5)
            {
                buffer = (buffer << 8) | hash[next++];
                bits += 8;
            }

            bits -= 5;
            name[at++] = Alphabet[(buffer >> bits) & 31];
        }

        return new string(name);
    }

    /// <summary>The Key Vault secret name of the tenant's secret NAME: <c>t-…--NAME</c> (at most 94 characters).</summary>
    public static string SecretName(string tenantId, string name) => Of(tenantId) + SecretSeparator + name;
}
