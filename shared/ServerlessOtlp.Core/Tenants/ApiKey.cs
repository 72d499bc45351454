using System.Buffers;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace ServerlessOtlp.Tenants;

/// <summary>
/// API keys: generated here, stored and looked up only as the lowercase hex SHA-256 of their
/// UTF-8 bytes, never in plain text.
/// </summary>
internal static class ApiKey
{
    /// <summary>Shortest key a tenant file may contain.</summary>
    public const int MinLength = 16;

    /// <summary>Longest key we hash; anything longer is refused without work (no real key is this long).</summary>
    public const int MaxLength = 512;

    // 256 bits of randomness, like an Azure Storage account key.
    private const int GeneratedKeyBytes = 32;

    /// <summary>A new key: 32 random bytes, base64url without padding (43 characters).</summary>
    public static string Generate()
    {
        Span<byte> bytes = stackalloc byte[GeneratedKeyBytes];
        RandomNumberGenerator.Fill(bytes);
        return Base64Url.EncodeToString(bytes);
    }

    /// <summary>Lowercase hex SHA-256 of the key's UTF-8 bytes: the RowKey of its key row.</summary>
    public static string Hash(ReadOnlySpan<char> apiKey)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        HashInto(apiKey, hash);
        return Convert.ToHexStringLower(hash);
    }

    /// <summary>The SHA-256 of the key's UTF-8 bytes, without allocating for keys up to <see cref="MaxLength"/> characters.</summary>
    public static void HashInto(ReadOnlySpan<char> apiKey, Span<byte> hash)
    {
        int max = Encoding.UTF8.GetMaxByteCount(apiKey.Length);
        byte[]? rented = null;
        Span<byte> utf8 = max <= 1024 ? stackalloc byte[1024] : (rented = ArrayPool<byte>.Shared.Rent(max));
        try
        {
            int n = Encoding.UTF8.GetBytes(apiKey, utf8);
            SHA256.HashData(utf8[..n], hash);
            utf8[..n].Clear(); // do not leave the plain key in a pooled buffer or on the stack
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }
}
