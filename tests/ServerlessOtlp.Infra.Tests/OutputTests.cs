using System.Text.RegularExpressions;

namespace ServerlessOtlp.Infra.Tests;

/// <summary>Outputs end up in deployment history and in `.azure/ENV/.env`: never a secret.</summary>
public sealed partial class OutputTests
{
    private static readonly CompiledTemplate Template = CompiledTemplate.Instance;

    public static TheoryData<string, string, string> AllOutputs()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var deployment in Template.Deployments)
        {
            foreach (var (name, output) in deployment.Outputs)
            {
                data.Add(deployment.Name, name, output?["value"]?.ToJsonString() ?? "");
            }
        }

        return data;
    }

    [Fact]
    public void Main_outputs_the_names_azd_and_the_hook_need()
    {
        var outputs = Template.Root.Outputs;
        Assert.Contains("AZURE_CONTAINER_REGISTRY_ENDPOINT", outputs.Select(o => o.Key));
        Assert.Contains("AZURE_STORAGE_ACCOUNT_NAME", outputs.Select(o => o.Key));
        Assert.Contains("GATEWAY_ENDPOINT", outputs.Select(o => o.Key));
        Assert.Contains("AZURE_RESOURCE_GROUP", outputs.Select(o => o.Key));
    }

    [Theory]
    [MemberData(nameof(AllOutputs))]
    public void No_output_carries_a_key_secret_or_connection_string(string deployment, string name, string value)
    {
        // "Key Vault" is a resource name, not a key.
        var bareName = KeyVault().Replace(name, "");
        Assert.False(SecretName().IsMatch(bareName), $"{deployment}: output '{name}' is named like a secret.");
        Assert.False(SecretValue().IsMatch(value), $"{deployment}: output '{name}' = {value} looks like a secret.");
    }

    [Fact]
    public void No_output_is_typed_secure_and_nothing_anywhere_lists_keys()
    {
        foreach (var deployment in Template.Deployments)
        {
            Assert.All(deployment.Outputs, o => Assert.DoesNotContain("secure", (string?)o.Value?["type"] ?? "", StringComparison.OrdinalIgnoreCase));
            Assert.DoesNotContain("listKeys(", deployment.Template.ToJsonString(), StringComparison.OrdinalIgnoreCase);
        }
    }

    [GeneratedRegex("key_?vault", RegexOptions.IgnoreCase)]
    private static partial Regex KeyVault();

    [GeneratedRegex("key|secret|password|connection_?string|sas|token|credential", RegexOptions.IgnoreCase)]
    private static partial Regex SecretName();

    [GeneratedRegex(@"list(Keys|Secrets|ConnectionStrings|AccountSas|ServiceSas)\b|connectionString|instrumentationKey|primaryKey|secondaryKey|sharedAccessKey|AccountKey=", RegexOptions.IgnoreCase)]
    private static partial Regex SecretValue();
}
