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
        Assert.Equal("[parameters('partitionCount')]", hub["properties"]!["partitionCount"]?.ToString());
    }

    [Fact]
    public void Event_Hubs_retention_is_a_parameter_and_local_auth_is_off()
    {
        Assert.NotNull(Template.Root.Template["parameters"]!["eventHubsRetentionHours"]);
        var hub = Single("Microsoft.EventHub/namespaces/eventhubs");
        Assert.Equal("[parameters('retentionHours')]", hub["properties"]!["retentionDescription"]!["retentionTimeInHours"]?.ToString());

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
