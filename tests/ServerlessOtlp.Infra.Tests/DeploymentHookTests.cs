using System.Diagnostics;

namespace ServerlessOtlp.Infra.Tests;

/// <summary>
/// The azd hooks, run as azd runs them (sh, in the repository), with stand-ins for azd, az and dotnet on
/// PATH that record what they were asked: the deployer's principal type, and where the first key goes.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // the posix hooks, run by sh
public sealed class DeploymentHookTests
{
    private static readonly string Root = CompiledTemplate.RepositoryRoot;

    [Fact]
    public void Azure_yaml_runs_a_preprovision_hook_on_both_shells()
    {
        string yaml = File.ReadAllText(Path.Combine(Root, "azure.yaml"));
        Assert.Matches(@"preprovision:\s+posix:\s+shell: sh\s+run: \./infra/hooks/preprovision\.sh\s+windows:\s+shell: pwsh\s+run: \./infra/hooks/preprovision\.ps1", yaml);
        Assert.True(File.Exists(Path.Combine(Root, "infra", "hooks", "preprovision.ps1")));
        Assert.Contains("readEnvironmentVariable('AZURE_PRINCIPAL_TYPE'", File.ReadAllText(Path.Combine(Root, "infra", "bicep", "main.bicepparam")), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("servicePrincipal", "", "ServicePrincipal")]
    [InlineData("user", "", "User")]
    [InlineData("", "GITHUB_ACTIONS=true", "ServicePrincipal")]
    [InlineData("", "AZURE_CLIENT_ID=00000000-0000-0000-0000-000000000001", "ServicePrincipal")]
    [InlineData("", "", "User")]
    public void Preprovision_sets_the_principal_type_of_whoever_deploys(string azUserType, string environment, string expected)
    {
        using var stubs = new Stubs(azUserType);
        var env = environment.Length == 0 ? new Dictionary<string, string>() : new Dictionary<string, string> { [environment.Split('=')[0]] = environment.Split('=')[1] };
        var (exit, output) = stubs.Run("infra/hooks/preprovision.sh", env);
        Assert.True(exit == 0, output);
        Assert.Equal([$"env set AZURE_PRINCIPAL_TYPE {expected}"], stubs.AzdCalls().Where(c => c.Contains("AZURE_PRINCIPAL_TYPE", StringComparison.Ordinal)));
    }

    [Fact]
    public void Preprovision_keeps_a_principal_type_the_environment_already_has()
    {
        using var stubs = new Stubs("user");
        var (exit, output) = stubs.Run("infra/hooks/preprovision.sh", new Dictionary<string, string> { ["AZURE_PRINCIPAL_TYPE"] = "ServicePrincipal" });
        Assert.True(exit == 0, output);
        Assert.DoesNotContain(stubs.AzdCalls(), c => c.Contains("AZURE_PRINCIPAL_TYPE", StringComparison.Ordinal));
    }

    [Fact]
    public void Preprovision_generates_a_key_pepper_on_the_first_deployment_only()
    {
        using var stubs = new Stubs("user");
        var (exit, output) = stubs.Run("infra/hooks/preprovision.sh", new Dictionary<string, string>());
        Assert.True(exit == 0, output);
        string set = Assert.Single(stubs.AzdCalls(), c => c.StartsWith("env set SERVERLESSOTLP_KEY_PEPPER ", StringComparison.Ordinal));
        byte[] pepper = Convert.FromBase64String(set["env set SERVERLESSOTLP_KEY_PEPPER ".Length..]);
        Assert.Equal(32, pepper.Length);
        Assert.DoesNotContain(set["env set SERVERLESSOTLP_KEY_PEPPER ".Length..], output, StringComparison.Ordinal);

        // A second machine gets a different one: the value is random, not derived.
        using var other = new Stubs("user");
        Assert.Equal(0, other.Run("infra/hooks/preprovision.sh", new Dictionary<string, string>()).Exit);
        Assert.NotEqual(set, Assert.Single(other.AzdCalls(), c => c.StartsWith("env set SERVERLESSOTLP_KEY_PEPPER ", StringComparison.Ordinal)));
    }

    [Fact]
    public void Preprovision_keeps_the_pepper_of_a_deployment_that_has_one()
    {
        // In the azd environment already: nothing is set.
        using var stubs = new Stubs("user");
        var (exit, output) = stubs.Run("infra/hooks/preprovision.sh", new Dictionary<string, string> { ["SERVERLESSOTLP_KEY_PEPPER"] = Stubs.Pepper });
        Assert.True(exit == 0, output);
        Assert.DoesNotContain(stubs.AzdCalls(), c => c.Contains("SERVERLESSOTLP_KEY_PEPPER", StringComparison.Ordinal));

        // A new machine for an existing deployment: read back from its vault, never generated.
        using var fresh = new Stubs("user");
        (exit, output) = fresh.Run("infra/hooks/preprovision.sh", new Dictionary<string, string> { ["AZURE_KEY_VAULT_NAME"] = "kv-example" });
        Assert.True(exit == 0, output);
        Assert.Contains($"env set SERVERLESSOTLP_KEY_PEPPER {Stubs.Pepper}", fresh.AzdCalls());
        Assert.Contains("keyvault secret show --vault-name kv-example --name key-pepper-1 --query value --output tsv", fresh.AzCalls());
        Assert.DoesNotContain(Stubs.Pepper, output, StringComparison.Ordinal);
    }

    [Fact]
    public void Preprovision_refuses_when_the_vault_exists_but_its_pepper_cannot_be_read()
    {
        using var stubs = new Stubs("user", vaultReadable: false);
        var (exit, output) = stubs.Run("infra/hooks/preprovision.sh", new Dictionary<string, string> { ["AZURE_KEY_VAULT_NAME"] = "kv-example" });
        Assert.NotEqual(0, exit);
        Assert.Contains("would invalidate every API key", output, StringComparison.Ordinal);
        Assert.DoesNotContain(stubs.AzdCalls(), c => c.Contains("SERVERLESSOTLP_KEY_PEPPER", StringComparison.Ordinal));
    }

    [Fact]
    public void Postprovision_digests_the_first_key_with_the_deployments_pepper()
    {
        using var stubs = new Stubs("servicePrincipal");
        var (exit, output) = stubs.Run("infra/hooks/postprovision.sh", new Dictionary<string, string>
        {
            ["CI"] = "true",
            ["AZURE_STORAGE_ACCOUNT_NAME"] = "stexample",
            ["SERVERLESSOTLP_KEY_PEPPER"] = Stubs.Pepper,
            ["SERVERLESSOTLP_FIRST_TENANT_KEY_FILE"] = Path.Combine(stubs.Directory, "key.txt"),
        });
        Assert.True(exit == 0, output);
        Assert.Equal([Stubs.Pepper], stubs.DotnetPeppers().Distinct());
    }

    [Fact]
    public void Postprovision_in_CI_writes_the_first_key_to_an_owner_only_file_and_never_to_the_log()
    {
        using var stubs = new Stubs("servicePrincipal");
        string keyFile = Path.Combine(stubs.Directory, "env", "first-tenant-key.txt");
        var (exit, output) = stubs.Run("infra/hooks/postprovision.sh", new Dictionary<string, string>
        {
            ["CI"] = "true",
            ["AZURE_STORAGE_ACCOUNT_NAME"] = "stexample",
            ["SERVERLESSOTLP_FIRST_TENANT_KEY_FILE"] = keyFile,
        });

        Assert.True(exit == 0, output);
        Assert.DoesNotContain(Stubs.Key, output, StringComparison.Ordinal);
        Assert.Contains(keyFile, output, StringComparison.Ordinal);
        Assert.Equal(Stubs.Key, File.ReadAllLines(keyFile)[^1]);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
        Assert.Contains("env set SERVERLESSOTLP_FIRST_TENANT created", stubs.AzdCalls());
    }

    [Fact]
    public void The_deployer_roles_and_the_fallback_without_ACR_Tasks_are_documented()
    {
        string infra = File.ReadAllText(Path.Combine(Root, "infra", "README.md"));
        Assert.Contains("User Access Administrator", infra, StringComparison.Ordinal);
        Assert.Contains("Role Based Access Control Administrator", infra, StringComparison.Ordinal);
        Assert.Contains("AZURE_PRINCIPAL_TYPE", infra, StringComparison.Ordinal);
        Assert.Contains("remoteBuild: false", infra, StringComparison.Ordinal);
        Assert.Contains("first-tenant-key.txt", infra, StringComparison.Ordinal);
    }

    /// <summary>A temp directory of stand-in commands; azd records its arguments, dotnet prints a key.</summary>
    private sealed class Stubs : IDisposable
    {
        public const string Key = "k3y-0123456789abcdef-not-for-logs";

        public const string Pepper = "cGVwcGVyLW9mLXRoZS1leGlzdGluZy1kZXBsb3ltZW50LTEyMzQ=";

        public Stubs(string azUserType, bool vaultReadable = true)
        {
            Directory = System.IO.Directory.CreateTempSubdirectory("hooks-").FullName;
            string bin = Path.Combine(Directory, "bin");
            System.IO.Directory.CreateDirectory(bin);
            Write(bin, "azd", $"printf '%s\\n' \"$*\" >> '{Path.Combine(Directory, "azd.log")}'");
            if (azUserType.Length > 0)
            {
                // `az account show` answers the user type; `az keyvault secret show` the stored pepper (or fails).
                string secret = vaultReadable ? $"echo {Pepper}" : "echo 'Forbidden' >&2; exit 1";
                Write(bin, "az", $"printf '%s\\n' \"$*\" >> '{Path.Combine(Directory, "az.log")}'; case \"$1\" in keyvault) {secret};; *) echo {azUserType};; esac");
            }

            // Records the pepper otlpctl would digest with, then prints a key.
            Write(bin, "dotnet", $"printf '%s\\n' \"${{ServerlessOtlp__Tenants__KeyPeppers__1:-}}\" >> '{Path.Combine(Directory, "dotnet.log")}'; case \"$1\" in run) echo 'created tenant first. Its API key (shown only now; keep it safe):'; echo '{Key}';; esac");
        }

        public string Directory { get; }

        public List<string> AzdCalls()
        {
            string log = Path.Combine(Directory, "azd.log");
            return File.Exists(log) ? File.ReadAllLines(log).ToList() : [];
        }

        public List<string> AzCalls() => Lines("az.log");

        /// <summary>The pepper each dotnet call had in its environment.</summary>
        public List<string> DotnetPeppers() => Lines("dotnet.log");

        private List<string> Lines(string name)
        {
            string log = Path.Combine(Directory, name);
            return File.Exists(log) ? File.ReadAllLines(log).ToList() : [];
        }

        public (int Exit, string Output) Run(string script, IReadOnlyDictionary<string, string> environment)
        {
            var start = new ProcessStartInfo("/bin/sh", [Path.Combine(Root, script)])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = Root,
            };

            // Only the stand-ins and the basic tools: no real azd, az or dotnet, and no CI hints from this machine.
            start.Environment.Clear();
            start.Environment["PATH"] = $"{Path.Combine(Directory, "bin")}:/usr/bin:/bin";
            start.Environment["HOME"] = Directory;
            foreach (var (name, value) in environment)
            {
                start.Environment[name] = value;
            }

            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            Assert.True(process.WaitForExit(60_000), $"{script} did not finish");
            return (process.ExitCode, stdout.Result + stderr.Result);
        }

        public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);

        private static void Write(string bin, string name, string body)
        {
            string path = Path.Combine(bin, name);
            File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }
}
