using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.Extensions.Configuration;

namespace ServerlessOtlp.Tenants;

/// <summary>A stored API key digest as a value (pepper version + 32 bytes), to key lookups by without allocating.</summary>
public readonly record struct KeyDigest(int Version, UInt128 High, UInt128 Low)
{
    internal static KeyDigest From(int version, ReadOnlySpan<byte> digest) =>
        new(version, BinaryPrimitives.ReadUInt128BigEndian(digest), BinaryPrimitives.ReadUInt128BigEndian(digest[16..]));

    internal void CopyTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt128BigEndian(destination, High);
        BinaryPrimitives.WriteUInt128BigEndian(destination[16..], Low);
    }
}

/// <summary>
/// How API keys are stored: as <c>HMAC-SHA-256(pepper, SHA-256(key))</c>, with the pepper's version in
/// the key row's RowKey (<c>p{version}-{hex}</c>), so that the table alone — a backup, a log, a reader
/// with table access — does not let anyone test candidate keys offline. Version 0 is the unpeppered
/// <c>SHA-256(key)</c> of earlier releases (RowKey: the bare hex); such rows migrate offline, because
/// the HMAC is taken over the SHA-256 they already hold (<c>otlpctl tenants migrate-keys</c>).
/// During a pepper rotation two peppers are configured: new keys get the current one, lookups try both.
/// </summary>
public sealed class ApiKeyHasher
{
    public const int Unpeppered = 0;

    /// <summary>Configuration section: <c>KeyPeppers:N</c> (base64, at least 32 bytes), <c>KeyPepperVersion</c>, <c>AcceptUnpepperedKeys</c>.</summary>
    public const string Section = "ServerlessOtlp:Tenants";

    private const int MinPepperBytes = 32;

    private readonly Dictionary<int, byte[]> _peppers;
    private readonly int[] _accepted;

    /// <summary>Unpeppered only: local development and tests without a configured pepper.</summary>
    public static ApiKeyHasher Default { get; } = new(new Dictionary<int, byte[]>(), null);

    /// <param name="peppers">Pepper by version (1, 2, …).</param>
    /// <param name="currentVersion">The version new keys get; the highest configured when null (0 without peppers).</param>
    /// <param name="acceptUnpeppered">Whether version-0 rows still authenticate (until <c>migrate-keys</c> has run).</param>
    public ApiKeyHasher(IReadOnlyDictionary<int, byte[]> peppers, int? currentVersion, bool acceptUnpeppered = true)
    {
        foreach (var (version, pepper) in peppers)
        {
            if (version < 1 || pepper.Length < MinPepperBytes)
            {
                throw new ArgumentException($"key pepper {version}: versions start at 1 and a pepper has at least {MinPepperBytes} bytes");
            }
        }

        _peppers = peppers.ToDictionary(p => p.Key, p => p.Value.ToArray());
        CurrentVersion = currentVersion ?? (_peppers.Count == 0 ? Unpeppered : _peppers.Keys.Max());
        if (CurrentVersion != Unpeppered && !_peppers.ContainsKey(CurrentVersion))
        {
            throw new ArgumentException($"KeyPepperVersion {CurrentVersion} has no pepper configured");
        }

        // The current version first: the common answer is found by the first lookup.
        var accepted = new List<int> { CurrentVersion };
        accepted.AddRange(_peppers.Keys.Where(v => v != CurrentVersion).OrderDescending());
        if (acceptUnpeppered && CurrentVersion != Unpeppered)
        {
            accepted.Add(Unpeppered);
        }

        _accepted = [.. accepted];
    }

    public int CurrentVersion { get; }

    /// <summary>Versions a lookup tries, current first.</summary>
    public IReadOnlyList<int> AcceptedVersions => _accepted;

    /// <summary>The same, without an enumerator allocation on the lookup path.</summary>
    internal ReadOnlySpan<int> AcceptedVersionSpan => _accepted;

    public static ApiKeyHasher FromConfiguration(IConfiguration configuration)
    {
        var section = configuration.GetSection(Section);
        var peppers = new Dictionary<int, byte[]>();
        foreach (var child in section.GetSection("KeyPeppers").GetChildren())
        {
            if (!int.TryParse(child.Key, NumberStyles.None, CultureInfo.InvariantCulture, out int version) || string.IsNullOrEmpty(child.Value))
            {
                throw new InvalidOperationException($"{Section}:KeyPeppers:{child.Key}: the key is the pepper's version (1, 2, …) and the value its base64 bytes");
            }

            peppers[version] = Convert.FromBase64String(child.Value);
        }

        int? current = int.TryParse(section["KeyPepperVersion"], NumberStyles.None, CultureInfo.InvariantCulture, out int v) ? v : null;
        bool acceptUnpeppered = !bool.TryParse(section["AcceptUnpepperedKeys"], out bool accept) || accept;
        return new ApiKeyHasher(peppers, current, acceptUnpeppered);
    }

    /// <summary>The digest of <paramref name="apiKey"/> under <paramref name="version"/>.</summary>
    public KeyDigest Digest(ReadOnlySpan<char> apiKey, int version)
    {
        Span<byte> sha = stackalloc byte[SHA256.HashSizeInBytes];
        ApiKey.HashInto(apiKey, sha);
        return Pepper(sha, version);
    }

    /// <summary>The RowKey a new key row gets (the current version).</summary>
    public string RowKey(ReadOnlySpan<char> apiKey) => RowKey(Digest(apiKey, CurrentVersion));

    public static string RowKey(KeyDigest digest)
    {
        Span<byte> bytes = stackalloc byte[32];
        digest.CopyTo(bytes);
        string hex = Convert.ToHexStringLower(bytes);
        return digest.Version == Unpeppered ? hex : string.Create(CultureInfo.InvariantCulture, $"p{digest.Version}-{hex}");
    }

    /// <summary>Reads a key row's RowKey back; false for anything that is not one.</summary>
    public static bool TryParseRowKey(string rowKey, out KeyDigest digest)
    {
        digest = default;
        int version = Unpeppered;
        var hex = rowKey.AsSpan();
        if (hex.StartsWith("p", StringComparison.Ordinal))
        {
            int dash = hex.IndexOf('-');
            if (dash < 2 || !int.TryParse(hex[1..dash], NumberStyles.None, CultureInfo.InvariantCulture, out version) || version < 1)
            {
                return false;
            }

            hex = hex[(dash + 1)..];
        }

        Span<byte> bytes = stackalloc byte[32];
        if (hex.Length != 64 || Convert.FromHexString(hex, bytes, out _, out int written) != System.Buffers.OperationStatus.Done || written != 32)
        {
            return false;
        }

        digest = KeyDigest.From(version, bytes);
        return true;
    }

    /// <summary>The current version's row for an unpeppered one (offline migration); null when there is nothing to do.</summary>
    public KeyDigest? Migrate(KeyDigest unpeppered)
    {
        if (unpeppered.Version != Unpeppered || CurrentVersion == Unpeppered)
        {
            return null;
        }

        Span<byte> sha = stackalloc byte[32];
        unpeppered.CopyTo(sha);
        return Pepper(sha, CurrentVersion);
    }

    private KeyDigest Pepper(ReadOnlySpan<byte> sha, int version)
    {
        if (version == Unpeppered)
        {
            return KeyDigest.From(Unpeppered, sha);
        }

        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(_peppers[version], sha, mac);
        return KeyDigest.From(version, mac);
    }
}
