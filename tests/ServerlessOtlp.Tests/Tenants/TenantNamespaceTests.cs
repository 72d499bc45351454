using System.Text.RegularExpressions;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Tests.Tenants;

public sealed partial class TenantNamespaceTests
{
    // Every character a tenant id may hold (CONTRACTS.md: ^[A-Za-z0-9!_.*'()-]{1,150}$).
    private const string IdAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!_.*'()-";

    [Fact]
    public void The_namespace_is_t_and_26_characters_of_lowercase_base32_sha256()
    {
        // Cross-checked with Python: 't-' + base64.b32encode(hashlib.sha256(id.encode()).digest()).decode().lower()[:26]
        Assert.Equal("t-qivthlmhyfekbiqklot42xv4vj", TenantNamespace.Of("acme"));
        Assert.Equal("t-g4bwzwhzorwtguby5sus7cttvz", TenantNamespace.Of("Acme"));
        Assert.Equal("t-qivthlmhyfekbiqklot42xv4vj--tempo-token", TenantNamespace.SecretName("acme", "tempo-token"));
    }

    [Fact]
    public void No_two_tenant_ids_share_a_namespace_even_ignoring_case()
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);

        // Every id of one and two characters: all case pairs and special characters, side by side.
        foreach (char a in IdAlphabet)
        {
            ids.Add(a.ToString());
            foreach (char b in IdAlphabet)
            {
                ids.Add(new string([a, b]));
            }
        }

        // Ids that differ only by case, or only by one special character, at every position.
        foreach (string word in new[] { "acme", "tenant-one", "a.b_c", "x(y)z" })
        {
            for (int mask = 0; mask < 1 << word.Length; mask++)
            {
                ids.Add(string.Concat(word.Select((c, i) => (mask >> i & 1) == 1 ? char.ToUpperInvariant(c) : c)));
            }

            for (int i = 0; i <= word.Length; i++)
            {
                foreach (char special in "!_.*'()-")
                {
                    ids.Add(word.Insert(i, special.ToString()));
                }
            }
        }

        // Long ids, up to the 150 characters allowed, differing in their last character only.
        string prefix = new('a', 149);
        foreach (char last in IdAlphabet)
        {
            ids.Add(prefix + last);
        }

        ids.RemoveWhere(id => !TenantIds.IsValid(id));
        Assert.True(ids.Count > 5_000, $"only {ids.Count} ids");

        // Key Vault and configuration compare names case-insensitively: so does this check.
        var owners = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (string id in ids)
        {
            string ns = TenantNamespace.Of(id);
            Assert.True(owners.TryAdd(ns, id), $"\"{id}\" and \"{(owners.TryGetValue(ns, out var other) ? other : "")}\" share namespace {ns}");
        }
    }

    [Fact]
    public void Namespaced_secret_names_are_valid_key_vault_names_and_configuration_keys()
    {
        string longestName = new('Z', 64);
        foreach (string id in new[] { "a", "acme", "ACME", "x!_.*'()-y", new string('(', 150), new string('-', 150) })
        {
            string ns = TenantNamespace.Of(id);
            Assert.Equal(TenantNamespace.Length, ns.Length);
            Assert.Matches(NamespaceRegex(), ns);
            foreach (string name in new[] { "a", "tempo-token", "-", longestName })
            {
                string secret = TenantNamespace.SecretName(id, name);
                Assert.Matches(KeyVaultNameRegex(), secret);

                // A configuration key segment: no ':' (the section separator) and no "__" (the environment's).
                Assert.DoesNotContain(":", secret, StringComparison.Ordinal);
                Assert.DoesNotContain("__", secret, StringComparison.Ordinal);
            }
        }
    }

    // Azure Key Vault object names: 1-127 characters of 0-9 a-z A-Z and -.
    [GeneratedRegex(@"^[0-9a-zA-Z-]{1,127}\z")]
    private static partial Regex KeyVaultNameRegex();

    [GeneratedRegex(@"^t-[a-z2-7]{26}\z")]
    private static partial Regex NamespaceRegex();
}
