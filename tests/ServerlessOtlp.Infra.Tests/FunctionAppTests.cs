namespace ServerlessOtlp.Infra.Tests;

/// <summary>The Function App on Flex Consumption: identity-based connections for everything it opens.</summary>
public sealed class FunctionAppTests
{
    private static readonly CompiledTemplate Template = CompiledTemplate.Instance;
    private static readonly (CompiledTemplate.Deployment Deployment, JsonObject Resource) Site =
        Assert.Single(Template.Resources("Microsoft.Web/sites"));

    private static JsonNode Properties => Site.Resource["properties"]!;

    private static Dictionary<string, JsonNode?> Settings() =>
        Properties["siteConfig"]!["appSettings"]!.AsArray()
            .ToDictionary(s => (string)s!["name"]!, s => s!["value"]);

    private static string? Setting(string name) => Site.Deployment.ResolveString(Settings()[name]);

    [Fact]
    public void Host_storage_is_identity_based()
    {
        var settings = Settings();
        Assert.True(
            settings.ContainsKey("AzureWebJobsStorage__accountName") ||
            (settings.ContainsKey("AzureWebJobsStorage__blobServiceUri") && settings.ContainsKey("AzureWebJobsStorage__queueServiceUri")),
            "AzureWebJobsStorage needs __accountName or the service URIs.");
        Assert.Equal("managedidentity", Setting("AzureWebJobsStorage__credential"));
        Assert.Equal("[parameters('identityClientId')]", settings["AzureWebJobsStorage__clientId"]?.ToString());
        Assert.DoesNotContain("AzureWebJobsStorage", settings.Keys);
    }

    [Fact]
    public void No_setting_holds_a_storage_or_event_hubs_secret()
    {
        var settings = Settings();
        Assert.DoesNotContain(settings.Keys, k => k.EndsWith("ConnectionString", StringComparison.OrdinalIgnoreCase) && k != "APPLICATIONINSIGHTS_CONNECTION_STRING");
        Assert.DoesNotContain(settings.Keys, k => k.StartsWith("ServerlessOtlp__Storage__ConnectionString", StringComparison.Ordinal));
        Assert.DoesNotContain("AccountKey", Properties.ToJsonString(), StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("SharedAccessKey", Properties.ToJsonString(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Settings_are_the_ones_the_functions_read()
    {
        var settings = Settings();
        Assert.Equal("eventhubs", Setting("ServerlessOtlp__Log__Kind"));
        Assert.Equal("[parameters('identityClientId')]", settings["AZURE_CLIENT_ID"]?.ToString());
        foreach (var name in new[]
                 {
                     "ServerlessOtlp__Storage__AccountName",
                     "ServerlessOtlp__Log__EventHubs__FullyQualifiedNamespace",
                     "ServerlessOtlp__Log__EventHubs__EventHubName",
                     "ServerlessOtlp__Log__EventHubs__ConsumerGroup",
                     "ServerlessOtlp__Log__EventHubs__ReplayConsumerGroup",
                     "ServerlessOtlp__KeyVault__Uri",
                     "APPLICATIONINSIGHTS_CONNECTION_STRING",
                 })
        {
            Assert.False(string.IsNullOrEmpty(settings.GetValueOrDefault(name)?.ToString()), $"{name} is not set.");
        }

        Assert.Contains("fullyQualifiedNamespace", Template.Module("functions").Argument("eventHubsFullyQualifiedNamespace")?.ToString(), StringComparison.Ordinal);
        Assert.Equal("[parameters('replayConsumerGroupName')]", settings["ServerlessOtlp__Log__EventHubs__ReplayConsumerGroup"]?.ToString());
        Assert.Contains("replayConsumerGroupName", Template.Module("functions").Argument("replayConsumerGroupName")?.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Flex_Consumption_takes_runtime_and_deployment_storage_in_functionAppConfig()
    {
        var config = Properties["functionAppConfig"]!;
        Assert.Equal("dotnet-isolated", (string?)config["runtime"]!["name"]);
        var authentication = config["deployment"]!["storage"]!["authentication"]!;
        Assert.Equal("UserAssignedIdentity", (string?)authentication["type"]);
        Assert.Equal("[parameters('identityId')]", authentication["userAssignedIdentityResourceId"]?.ToString());

        // Flex Consumption rejects these as app settings.
        Assert.DoesNotContain("FUNCTIONS_WORKER_RUNTIME", Settings().Keys);
        Assert.DoesNotContain("FUNCTIONS_EXTENSION_VERSION", Settings().Keys);

        var plan = Assert.Single(Template.Resources("Microsoft.Web/serverfarms")).Resource;
        Assert.Equal("FlexConsumption", (string?)plan["sku"]!["tier"]);
    }

    [Fact]
    public void Runs_as_the_user_assigned_identity_over_https_only()
    {
        Assert.Equal("UserAssigned", (string?)Site.Resource["identity"]!["type"]);
        Assert.Equal("true", Properties["httpsOnly"]?.ToString());
        Assert.Contains("'azd-service-name', 'functions'", Site.Resource["tags"]?.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Basic_publishing_credentials_are_disabled()
    {
        var policies = Template.Resources("Microsoft.Web/sites/basicPublishingCredentialsPolicies").ToList();
        Assert.Equal(2, policies.Count);
        Assert.All(policies, p => Assert.Equal("false", p.Resource["properties"]!["allow"]?.ToString()));
    }

    /// <summary>
    /// Flex Consumption keeps instances warm for <c>function:NAME</c> only when NAME is a function's name as
    /// declared, case included; the module refuses anything else, from a list that must be the app's functions.
    /// </summary>
    [Fact]
    public void Always_ready_names_are_the_apps_function_names_in_their_casing()
    {
        var declared = Directory.GetFiles(Path.Combine(CompiledTemplate.RepositoryRoot, "functions", "ServerlessOtlp.Functions"), "*.cs")
            .SelectMany(f => System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(f), @"\[Function\(""(\w+)""\)\]").Select(m => "function:" + m.Groups[1].Value))
            .Order(StringComparer.Ordinal)
            .ToList();
        Assert.Equal(6, declared.Count);

        var functions = Template.Module("functions");
        var names = functions.Template["variables"]!["alwaysReadyNames"]!.AsArray().Select(n => n!.ToString()).ToList();
        Assert.Equal(declared, names.Where(n => n.StartsWith("function:", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
        Assert.Equal(["blob", "durable", "http"], names.Where(n => !n.Contains(':', StringComparison.Ordinal)).Order(StringComparer.Ordinal));

        Assert.Equal("[variables('checkedAlwaysReady')]", Properties["functionAppConfig"]!["scaleAndConcurrency"]!["alwaysReady"]?.ToString());
        Assert.Contains("fail(", functions.Template["variables"]!["copy"]!.ToJsonString(), StringComparison.Ordinal);
    }

    /// <summary>The ServerlessOtlp settings the Bicep gives the app; FunctionsAppHostTests builds the worker host with the same.</summary>
    [Fact]
    public void The_ServerlessOtlp_settings_are_exactly_those_the_worker_host_test_builds_with()
    {
        Assert.Equal(
            [
                "ServerlessOtlp__Functions__DispatchSchedule",
                "ServerlessOtlp__Functions__MaintenanceSchedule",
                "ServerlessOtlp__KeyVault__Uri",
                "ServerlessOtlp__Log__EventHubs__ConsumerGroup",
                "ServerlessOtlp__Log__EventHubs__EventHubName",
                "ServerlessOtlp__Log__EventHubs__FullyQualifiedNamespace",
                "ServerlessOtlp__Log__EventHubs__ReplayConsumerGroup",
                "ServerlessOtlp__Log__Kind",
                "ServerlessOtlp__Storage__AccountName",
            ],
            Settings().Keys.Where(k => k.StartsWith("ServerlessOtlp__", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
    }
}
