using System.Buffers.Binary;
using System.Security.Cryptography;

namespace ServerlessOtlp.Tenants;

/// <summary>The SHA-256 of an API key as a value, to key caches by without allocating.</summary>
internal readonly record struct KeyDigest(UInt128 High, UInt128 Low)
{
    public static KeyDigest Of(ReadOnlySpan<char> apiKey)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        ApiKey.HashInto(apiKey, hash);
        return new KeyDigest(BinaryPrimitives.ReadUInt128BigEndian(hash), BinaryPrimitives.ReadUInt128BigEndian(hash[16..]));
    }

    /// <summary>The same text as <see cref="ApiKey.Hash"/>: the key row's RowKey.</summary>
    public string ToHex()
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        BinaryPrimitives.WriteUInt128BigEndian(hash, High);
        BinaryPrimitives.WriteUInt128BigEndian(hash[16..], Low);
        return Convert.ToHexStringLower(hash);
    }
}
