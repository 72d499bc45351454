using static ServerlessOtlp.Infra.Tests.BuiltInRoles;
using static ServerlessOtlp.Infra.Tests.RoleAssignment;

namespace ServerlessOtlp.Infra.Tests;

/// <summary>
/// Least privilege, per principal. Public examples swap the Event Hubs sender and receiver
/// ids; these tests pin which identity gets which role, and at which scope.
/// </summary>
public sealed class RoleAssignmentTests
{
    private const string Hub = "Microsoft.EventHub/namespaces/eventhubs";
    private const string StorageAccount = "Microsoft.Storage/storageAccounts";
    private const string Table = "Microsoft.Storage/storageAccounts/tableServices/tables";
    private const string Container = "Microsoft.Storage/storageAccounts/blobServices/containers";
    private const string Queue = "Microsoft.Storage/storageAccounts/queueServices/queues";

    private static readonly CompiledTemplate Template = CompiledTemplate.Instance;
    private static readonly IReadOnlyList<RoleAssignment> Assignments = All(Template);

    private static IEnumerable<RoleAssignment> Of(string principal) => Assignments.Where(a => a.Principal == principal);

    private static RoleAssignment Single(string principal, string roleId) =>
        Assert.Single(Of(principal), a => a.RoleId == roleId);

    [Fact]
    public void Gateway_sends_to_the_hub_and_cannot_receive()
    {
        Assert.Equal(Hub, Single(Gateway, EventHubsDataSender).ScopeType);
        Assert.DoesNotContain(Of(Gateway), a => a.RoleId is EventHubsDataReceiver or EventHubsDataOwner);
    }

    [Fact]
    public void Functions_receive_from_the_hub_and_cannot_send()
    {
        Assert.Equal(Hub, Single(Functions, EventHubsDataReceiver).ScopeType);
        Assert.DoesNotContain(Of(Functions), a => a.RoleId is EventHubsDataSender or EventHubsDataOwner);
    }

    [Fact]
    public void Gateway_reads_only_the_tenants_table_and_writes_only_the_nodes_agents_and_leases_tables()
    {
        var access = Template.Module("access");
        var reader = Single(Gateway, StorageTableDataReader);
        Assert.Equal(Table, reader.ScopeType);
        Assert.Contains("parameters('tenantsTableName')", reader.Scope, StringComparison.Ordinal);
        Assert.Equal("tenants", access.ArgumentValue("tenantsTableName"));

        // Heartbeats and limit shares (nodes), OpAMP agents (agents), leases read and drain-job markers (leases).
        var writers = Of(Gateway).Where(a => a.RoleId == StorageTableDataContributor).ToList();
        Assert.All(writers, w => Assert.Equal(Table, w.ScopeType));
        Assert.Equal(
            ["agentsTableName", "leasesTableName", "nodesTableName"],
            writers.Select(w => System.Text.RegularExpressions.Regex.Match(w.Scope, @"parameters\('(\w+)'\)\)\]$").Groups[1].Value).Order(StringComparer.Ordinal));
        Assert.Equal(("nodes", "agents", "leases"), (access.ArgumentValue("nodesTableName"), access.ArgumentValue("agentsTableName"), access.ArgumentValue("leasesTableName")));
    }

    [Fact]
    public void Gateway_may_only_send_to_the_drain_jobs_queue()
    {
        var sender = Single(Gateway, StorageQueueDataMessageSender);
        Assert.Equal(Queue, sender.ScopeType);
        Assert.Contains("parameters('drainJobsQueueName')", sender.Scope, StringComparison.Ordinal);
        Assert.Equal("drain-jobs", Template.Module("access").ArgumentValue("drainJobsQueueName"));
        Assert.Equal("drain-jobs", Template.Module("storage").ArgumentValue("drainJobsQueueName"));
        Assert.DoesNotContain(Of(Gateway), a => a.RoleId == StorageQueueDataContributor);
    }

    [Fact]
    public void Gateway_reads_tenant_configs_stored_as_blobs_in_the_tenants_container_only()
    {
        // TenantStore keeps a config too large for a table row in the tenants container; the gateway reads it there.
        var reader = Single(Gateway, StorageBlobDataReader);
        Assert.Equal(Container, reader.ScopeType);
        Assert.Contains("parameters('tenantContainerName')", reader.Scope, StringComparison.Ordinal);
        Assert.Equal("tenants", Template.Module("access").ArgumentValue("tenantContainerName"));
        Assert.Equal("tenants", Template.Module("storage").ArgumentValue("tenantContainerName"));
        Assert.DoesNotContain(Of(Gateway), a => a.RoleId is StorageBlobDataContributor or StorageBlobDataOwner);
    }

    [Fact]
    public void Gateway_has_no_storage_role_beyond_its_four_tables_the_tenants_container_and_the_drain_jobs_queue()
    {
        var storageRoles = Of(Gateway).Where(a => a.ScopeType.StartsWith(StorageAccount, StringComparison.Ordinal)).ToList();
        Assert.All(storageRoles, a => Assert.Contains(a.ScopeType, new[] { Table, Container, Queue }));
        Assert.Equal(6, storageRoles.Count);
    }

    [Fact]
    public void Gateway_pulls_its_image_with_AcrPull()
    {
        Assert.Equal("Microsoft.ContainerRegistry/registries", Single(Gateway, AcrPull).ScopeType);
    }

    [Fact]
    public void Functions_get_tables_queues_and_blobs_of_the_storage_account()
    {
        Assert.Equal(StorageAccount, Single(Functions, StorageTableDataContributor).ScopeType);
        Assert.Equal(StorageAccount, Single(Functions, StorageQueueDataContributor).ScopeType);
        // Identity-based host storage needs Blob Data Owner; it also covers retry and dead letters.
        Assert.Equal(StorageAccount, Single(Functions, StorageBlobDataOwner).ScopeType);
    }

    [Fact]
    public void Functions_read_backend_secrets_with_Key_Vault_Secrets_User()
    {
        Assert.Equal("Microsoft.KeyVault/vaults", Single(Functions, KeyVaultSecretsUser).ScopeType);
    }

    [Fact]
    public void Only_the_functions_can_read_Key_Vault_secrets_among_the_workloads()
    {
        Assert.DoesNotContain(Of(Gateway), a => a.ScopeType == "Microsoft.KeyVault/vaults");
    }

    [Fact]
    public void Gateway_reads_the_key_pepper_secret_and_no_other_secret()
    {
        // The pepper is needed to digest API keys; tenants' backend secrets are the functions' business.
        var reader = Single(Gateway, KeyVaultSecretsUser);
        Assert.Equal("Microsoft.KeyVault/vaults/secrets", reader.ScopeType);
        Assert.Contains("parameters('keyPepperSecretName')", reader.Scope, StringComparison.Ordinal);
        Assert.Equal("key-pepper-1", Template.Module("access").ArgumentValue("keyPepperSecretName"));
        Assert.Equal("key-pepper-1", Template.Module("keyvault").ArgumentValue("keyPepperSecretName"));
    }

    [Fact]
    public void No_principal_gets_Owner_or_Contributor()
    {
        Assert.DoesNotContain(Assignments, a => a.RoleId is Owner or Contributor);
    }

    [Fact]
    public void Managed_identities_are_assigned_as_service_principals()
    {
        Assert.All(
            Assignments.Where(a => a.Principal is Gateway or Functions),
            a => Assert.Equal("ServicePrincipal", a.PrincipalType));
    }

    [Fact]
    public void Every_principal_is_one_of_the_two_identities_or_the_deploying_user()
    {
        Assert.All(Assignments, a => Assert.Contains(a.Principal, new[] { Gateway, Functions, Deployer }));
    }

    [Fact]
    public void Deploying_user_gets_the_table_access_the_postprovision_hook_needs()
    {
        Assert.Equal(StorageAccount, Single(Deployer, StorageTableDataContributor).ScopeType);
    }

    [Fact]
    public void The_identities_given_roles_are_the_identities_the_apps_run_as()
    {
        var identities = Template.Module("identities");
        var access = Template.Module("access");
        Assert.Equal(identities.Argument(Gateway)?.ToString(), access.Argument(Gateway)?.ToString());
        Assert.Equal(identities.Argument(Functions)?.ToString(), access.Argument(Functions)?.ToString());
        Assert.NotEqual(access.Argument(Gateway)?.ToString(), access.Argument(Functions)?.ToString());

        Assert.Contains("outputs.gatewayIdentityId.value", Template.Module("gateway").Argument("identityId")?.ToString(), StringComparison.Ordinal);
        Assert.Contains("outputs.functionsIdentityId.value", Template.Module("functions").Argument("identityId")?.ToString(), StringComparison.Ordinal);
    }
}
