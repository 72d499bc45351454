namespace ServerlessOtlp.Infra.Tests;

/// <summary>Storage, Event Hubs and the alert on the log.</summary>
public sealed class DataPlaneTests
{
    private static readonly CompiledTemplate Template = CompiledTemplate.Instance;

    private static JsonObject Single(string type) => Assert.Single(Template.Resources(type)).Resource;

    [Fact]
    public void Storage_refuses_shared_keys_and_public_blobs()
    {
        var properties = Single("Microsoft.Storage/storageAccounts")["properties"]!;
        Assert.Equal("false", properties["allowSharedKeyAccess"]?.ToString());
        Assert.Equal("false", properties["allowBlobPublicAccess"]?.ToString());
        Assert.Equal("TLS1_2", (string?)properties["minimumTlsVersion"]);
    }

    [Fact]
    public void Storage_names_are_the_code_defaults()
    {
        var storage = Template.Module("storage");
        Assert.Equal(
            ["agents", "checkpoints", "leases", "nodes", "tenants"],
            storage.Parent!.Resolve(storage.Argument("tableNames"))!.AsArray().Select(n => n!.ToString()).Order());
        Assert.Equal("drain-jobs", storage.ArgumentValue("drainJobsQueueName"));
        Assert.Equal("otlp-log", storage.ArgumentValue("logContainerName"));
        Assert.Equal("retry", storage.ArgumentValue("retryContainerName"));
        Assert.Equal("deadletter", storage.ArgumentValue("deadLetterContainerName"));
        Assert.Equal("tenants", storage.ArgumentValue("tenantContainerName"));
    }

    [Fact]
    public void The_tenants_container_is_created_with_the_other_containers()
    {
        var containers = Single("Microsoft.Storage/storageAccounts/blobServices/containers");
        Assert.Contains("parameters('tenantContainerName')", containers["name"]!.ToString(), StringComparison.Ordinal);
    }

    /// <summary>One parameter serves both tiers, so the tier's limits are checked in the module (fail() at deployment).</summary>
    [Theory]
    [InlineData("retentionTimeInHours", "checkedRetentionHours", "standardMaxRetentionHours", "168")]
    [InlineData("partitionCount", "checkedPartitionCount", "standardMaxPartitions", "32")]
    public void Event_Hubs_Standard_limits_are_enforced_not_just_documented(string property, string variable, string limit, string value)
    {
        var (deployment, hub) = Assert.Single(Template.Resources("Microsoft.EventHub/namespaces/eventhubs"));
        var properties = hub["properties"]!;
        string? actual = property == "retentionTimeInHours" ? properties["retentionDescription"]![property]?.ToString() : properties[property]?.ToString();
        Assert.Equal($"[variables('{variable}')]", actual);
        string check = deployment.Template["variables"]![variable]!.ToString();
        Assert.Contains("fail(", check, StringComparison.Ordinal);
        Assert.Contains($"variables('{limit}')", check, StringComparison.Ordinal);
        Assert.Contains("not(variables('isPremium'))", check, StringComparison.Ordinal);
        Assert.Equal(value, deployment.Template["variables"]![limit]!.ToString());
    }

    [Fact]
    public void Event_Hubs_Premium_capacity_is_one_of_the_sizes_the_service_sells()
    {
        var (deployment, ns) = Assert.Single(Template.Resources("Microsoft.EventHub/namespaces"));
        Assert.Equal("[variables('checkedCapacity')]", ns["sku"]!["capacity"]?.ToString());
        string check = deployment.Template["variables"]!["checkedCapacity"]!.ToString();
        Assert.Contains("fail(", check, StringComparison.Ordinal);
        Assert.Equal([1, 2, 4, 8, 16], deployment.Template["variables"]!["premiumCapacities"]!.AsArray().Select(n => n!.GetValue<int>()));
        var parameter = Template.Root.Template["parameters"]!["eventHubsCapacity"]!;
        Assert.Equal(40, parameter["maxValue"]!.GetValue<int>()); // Standard's throughput units
    }

    [Fact]
    public void Application_Insights_takes_telemetry_only_with_Microsoft_Entra_ID()
    {
        Assert.Equal("true", Single("Microsoft.Insights/components")["properties"]!["DisableLocalAuth"]?.ToString());
    }

    [Theory]
    [InlineData("deadLetterContainerName", "deadLetterRetentionDays")]
    [InlineData("retryContainerName", "retryRetentionDays")]
    public void Lifecycle_rules_expire_old_blobs(string container, string ageParameter)
    {
        var rules = Single("Microsoft.Storage/storageAccounts/managementPolicies")["properties"]!["policy"]!["rules"]!.AsArray();
        var rule = Assert.Single(rules, r => r!["definition"]!["filters"]!["prefixMatch"]!.ToJsonString().Contains(container, StringComparison.Ordinal))!;
        Assert.Equal("true", rule["enabled"]?.ToString());
        var delete = rule["definition"]!["actions"]!["baseBlob"]!["delete"]!;
        Assert.Contains(ageParameter, delete["daysAfterModificationGreaterThan"]?.ToString(), StringComparison.Ordinal);
        Assert.NotNull(Template.Root.Template["parameters"]![ageParameter]);
    }

    [Fact]
    public void Event_Hubs_partition_count_is_a_parameter_defaulting_to_32()
    {
        var parameter = Template.Root.Template["parameters"]!["eventHubsPartitionCount"]!;
        Assert.Equal(32, parameter["defaultValue"]!.GetValue<int>());

        var hubs = Template.Module("eventhubs");
        Assert.Equal("[parameters('eventHubsPartitionCount')]", hubs.Argument("partitionCount")?.ToString());
        var hub = Single("Microsoft.EventHub/namespaces/eventhubs");
        Assert.Equal("[variables('checkedPartitionCount')]", hub["properties"]!["partitionCount"]?.ToString());
    }

    [Fact]
    public void Event_Hubs_retention_is_a_parameter_and_local_auth_is_off()
    {
        Assert.NotNull(Template.Root.Template["parameters"]!["eventHubsRetentionHours"]);
        var hub = Single("Microsoft.EventHub/namespaces/eventhubs");
        Assert.Equal("[variables('checkedRetentionHours')]", hub["properties"]!["retentionDescription"]!["retentionTimeInHours"]?.ToString());

        var ns = Single("Microsoft.EventHub/namespaces");
        Assert.Equal("true", ns["properties"]!["disableLocalAuth"]?.ToString());
        Assert.Equal("[parameters('sku')]", ns["sku"]!["name"]?.ToString());
        Assert.Equal("Standard", Template.Root.Template["parameters"]!["eventHubsSku"]!["defaultValue"]?.ToString());
    }

    [Fact]
    public void Functions_get_a_consumer_group_of_their_own_and_one_for_replay_cursors()
    {
        var groups = Template.Resources("Microsoft.EventHub/namespaces/eventhubs/consumergroups").Select(g => g.Resource["name"]!.ToString()).ToList();
        Assert.Equal(2, groups.Count);
        Assert.Contains(groups, n => n.Contains("parameters('consumerGroupName')", StringComparison.Ordinal));
        Assert.Contains(groups, n => n.Contains("parameters('replayConsumerGroupName')", StringComparison.Ordinal));
        var parameters = Template.Root.Template["parameters"]!;
        string? live = parameters["eventHubsConsumerGroupName"]!["defaultValue"]?.ToString();
        string? replay = parameters["eventHubsReplayConsumerGroupName"]!["defaultValue"]?.ToString();
        Assert.NotEqual("$Default", live);
        Assert.Equal("replay", replay);
        Assert.NotEqual(live, replay); // replay receivers are non-exclusive: they must not share the live drain's group
        Assert.Contains("eventHubsReplayConsumerGroupName", Template.Module("eventhubs").Argument("replayConsumerGroupName")?.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_metric_alert_watches_the_drains_on_the_Event_Hubs_namespace()
    {
        var alerts = Template.Resources("Microsoft.Insights/metricAlerts").Select(a => a.Resource["properties"]!).ToList();
        Assert.Contains(alerts, a =>
            a["criteria"]!.ToJsonString().Contains("OutgoingMessages", StringComparison.Ordinal) &&
            a["criteria"]!.ToJsonString().Contains("Microsoft.EventHub/namespaces", StringComparison.Ordinal) &&
            a["scopes"]!.ToJsonString().Contains("eventHubsNamespaceId", StringComparison.Ordinal));
    }

    [Fact]
    public void Key_Vault_uses_RBAC_and_the_registry_has_no_admin_user()
    {
        Assert.Equal("true", Single("Microsoft.KeyVault/vaults")["properties"]!["enableRbacAuthorization"]?.ToString());
        Assert.Equal("false", Single("Microsoft.ContainerRegistry/registries")["properties"]!["adminUserEnabled"]?.ToString());
    }
}
