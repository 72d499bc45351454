using System.Net;
using ServerlessOtlp.Export;
using ServerlessOtlp.Export.Egress;
using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Export.Secrets;
using ServerlessOtlp.Processing;

namespace ServerlessOtlp.Tests.Export;

public sealed class ExportSettingsTests
{
    [Fact]
    public void The_defaults_are_a_deployments_public_addresses_only_and_no_file_destinations()
    {
        var settings = new ExportSettings();
        var policy = new EgressPolicy(settings.Egress);

        Assert.NotNull(EgressPolicy.Refusal(IPAddress.Loopback, policy.AllowedNetworksFor("acme")));
        Assert.NotNull(EgressPolicy.Refusal(IPAddress.Parse("10.0.0.1"), policy.AllowedNetworksFor("acme")));
        Assert.Null(new FileExporter(settings.Files).DirectoryFor("acme", "/tmp/acme").Directory);
    }

    [Fact]
    public void Otlpctl_dev_adds_loopback_and_private_networks_and_any_path_without_a_root()
    {
        var local = new ExportSettings().ForLocalDevelopment();
        var policy = new EgressPolicy(local.Egress);

        foreach (string address in new[] { "127.0.0.1", "::1", "10.0.0.1", "172.16.0.1", "192.168.0.1", "100.64.0.1", "fd00::1" })
        {
            Assert.Null(EgressPolicy.Refusal(IPAddress.Parse(address), policy.AllowedNetworksFor("dev")));
        }

        Assert.NotNull(EgressPolicy.Refusal(IPAddress.Parse("169.254.169.254"), policy.AllowedNetworksFor("dev")));
        Assert.Equal("/tmp/acme", new FileExporter(local.Files).DirectoryFor("acme", "/tmp/acme").Directory);
    }

    [Fact]
    public void Export_settings_come_from_configuration_as_the_Functions_app_reads_them()
    {
        var settings = ExportSettings.FromConfiguration(EgressTests.Configuration(new()
        {
            ["ServerlessOtlp:Egress:AllowedNetworks"] = "10.20.0.0/16",
            ["ServerlessOtlp:Export:FileRoot"] = "/mnt/otlp",
            ["ServerlessOtlp:SecretMigration:GracePeriod"] = "2.00:00:00",
            ["ServerlessOtlp:RetryStore:MaxAge"] = "3.00:00:00",
        }));

        Assert.Equal(["10.20.0.0/16"], settings.Egress.AllowedNetworks.Select(n => n.ToString()));
        Assert.Equal("/mnt/otlp", settings.Files.Root);
        Assert.Equal(TimeSpan.FromDays(2), settings.SecretMigration.GracePeriod);
        Assert.Equal(TimeSpan.FromDays(3), settings.RetryStore.MaxAge);
        Assert.IsType<ConfigurationSecretResolver>(settings.Secrets);
        Assert.Throws<InvalidOperationException>(() => ExportSettings.FromConfiguration(EgressTests.Configuration(new() { ["ServerlessOtlp:RetryStore:MaxAge"] = "a day" })));
    }
}
