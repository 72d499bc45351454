// Who may do what: every role assignment of the deployment, per principal, at the
// narrowest scope the code needs. No keys anywhere; all data-plane access is RBAC.
//
//   gateway identity    Event Hubs Data Sender (hub) · Table Data Reader (tenants table)
//                       · Blob Data Reader (tenants container: configs too large for a row)
//                       · Table Data Contributor (nodes table: heartbeats and limit shares;
//                         agents table: OpAMP agents; leases table: reads leases, writes the
//                         pending markers of the drain jobs it pushes)
//                       · Queue Data Message Sender (drain-jobs queue: push-started drains) · AcrPull
//                       · Monitoring Metrics Publisher (App Insights)
//                       · Key Vault Secrets User (the key-pepper-1 secret only)
//   functions identity  Event Hubs Data Receiver (hub) · Table Data Contributor (account)
//                       · Queue Data Contributor (account: drain-jobs + host queues)
//                       · Blob Data Owner (account: host storage, deployment package,
//                         retry and dead-letter stores) · Key Vault Secrets User
//                       · Monitoring Metrics Publisher
//   deploying user      what `otlpctl` needs from a workstation (tenants, status, replay,
//                       dead letters, backend secrets), since shared keys are off

import { roles } from 'roles.bicep'

@description('Gateway identity name.')
param gatewayIdentityName string

@description('Functions identity name.')
param functionsIdentityName string

@description('Storage account name.')
param storageAccountName string

@description('Table holding tenants and their hashed API keys (the gateway only reads it).')
param tenantsTableName string

@description('Container of tenant configs too large for a table row (the gateway only reads it).')
param tenantContainerName string

@description('Table of node heartbeats (the gateway writes its own).')
param nodesTableName string

@description('Table of OpAMP agents (the gateway keeps their state there).')
param agentsTableName string

@description('Table of leases and drain-job markers (the gateway reads leases and marks the jobs it pushes).')
param leasesTableName string

@description('Queue of drain jobs (the gateway pushes a job when it appends to a partition nobody drains).')
param drainJobsQueueName string

@description('Event Hubs namespace name.')
param eventHubsNamespaceName string

@description('Event hub name.')
param eventHubName string

@description('Container registry name.')
param registryName string

@description('Key Vault name.')
param keyVaultName string

@description('Secret of the API key pepper (the only secret the gateway reads).')
param keyPepperSecretName string

@description('Application Insights component name.')
param applicationInsightsName string

@description('Object id of the user or service principal running the deployment (azd sets AZURE_PRINCIPAL_ID); empty to skip.')
param deployerPrincipalId string

@description('Type of that principal.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param deployerPrincipalType string

resource gatewayIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: gatewayIdentityName
}

resource functionsIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: functionsIdentityName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName

  resource tableService 'tableServices' existing = {
    name: 'default'

    resource tenantsTable 'tables' existing = {
      name: tenantsTableName
    }

    resource nodesTable 'tables' existing = {
      name: nodesTableName
    }

    resource agentsTable 'tables' existing = {
      name: agentsTableName
    }

    resource leasesTable 'tables' existing = {
      name: leasesTableName
    }
  }

  resource queueService 'queueServices' existing = {
    name: 'default'

    resource drainJobsQueue 'queues' existing = {
      name: drainJobsQueueName
    }
  }

  resource blobService 'blobServices' existing = {
    name: 'default'

    resource tenantsContainer 'containers' existing = {
      name: tenantContainerName
    }
  }
}

resource eventHubsNamespace 'Microsoft.EventHub/namespaces@2024-01-01' existing = {
  name: eventHubsNamespaceName

  resource hub 'eventhubs' existing = {
    name: eventHubName
  }
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: registryName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName

  resource keyPepper 'secrets' existing = {
    name: keyPepperSecretName
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// ---------------------------------------------------------------- gateway

resource gatewayEventHubsSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventHubsNamespace::hub.id, gatewayIdentity.id, roles.eventHubsDataSender)
  scope: eventHubsNamespace::hub
  properties: {
    description: 'gateway: append to the log'
    principalId: gatewayIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventHubsDataSender)
  }
}

resource gatewayKeyPepper 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault::keyPepper.id, gatewayIdentity.id, roles.keyVaultSecretsUser)
  scope: vault::keyPepper
  properties: {
    description: 'gateway: read the API key pepper (this secret only, not tenants\' backend secrets)'
    principalId: gatewayIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

resource gatewayTenantsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage::tableService::tenantsTable.id, gatewayIdentity.id, roles.storageTableDataReader)
  scope: storage::tableService::tenantsTable
  properties: {
    description: 'gateway: resolve API keys to tenants'
    principalId: gatewayIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataReader)
  }
}

resource gatewayTenantBlobsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage::blobService::tenantsContainer.id, gatewayIdentity.id, roles.storageBlobDataReader)
  scope: storage::blobService::tenantsContainer
  properties: {
    description: 'gateway: read tenant configs stored as blobs'
    principalId: gatewayIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataReader)
  }
}

resource gatewayNodesWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage::tableService::nodesTable.id, gatewayIdentity.id, roles.storageTableDataContributor)
  scope: storage::tableService::nodesTable
  properties: {
    description: 'gateway: write its node heartbeat'
    principalId: gatewayIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
  }
}

resource gatewayAgentsWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage::tableService::agentsTable.id, gatewayIdentity.id, roles.storageTableDataContributor)
  scope: storage::tableService::agentsTable
  properties: {
    description: 'gateway: keep OpAMP agents state'
    principalId: gatewayIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
  }
}

resource gatewayLeasesWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage::tableService::leasesTable.id, gatewayIdentity.id, roles.storageTableDataContributor)
  scope: storage::tableService::leasesTable
  properties: {
    description: 'gateway: read partition leases, mark the drain jobs it pushes'
    principalId: gatewayIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
  }
}

resource gatewayDrainJobsSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage::queueService::drainJobsQueue.id, gatewayIdentity.id, roles.storageQueueDataMessageSender)
  scope: storage::queueService::drainJobsQueue
  properties: {
    description: 'gateway: push a drain job when it appends to a partition nobody drains'
    principalId: gatewayIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataMessageSender)
  }
}

resource gatewayAcrPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, gatewayIdentity.id, roles.acrPull)
  scope: registry
  properties: {
    description: 'gateway: pull its image'
    principalId: gatewayIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.acrPull)
  }
}

resource gatewayTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, gatewayIdentity.id, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    description: 'gateway: send telemetry with Microsoft Entra ID'
    principalId: gatewayIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

// ---------------------------------------------------------------- functions

resource functionsEventHubsReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventHubsNamespace::hub.id, functionsIdentity.id, roles.eventHubsDataReceiver)
  scope: eventHubsNamespace::hub
  properties: {
    description: 'functions: read partitions from checkpoints; read partition properties for lag'
    principalId: functionsIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventHubsDataReceiver)
  }
}

resource functionsTables 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionsIdentity.id, roles.storageTableDataContributor)
  scope: storage
  properties: {
    description: 'functions: checkpoints, leases, nodes, tenants'
    principalId: functionsIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
  }
}

resource functionsQueues 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionsIdentity.id, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    description: 'functions: enqueue and take drain jobs (queue trigger via host storage)'
    principalId: functionsIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
  }
}

// Host storage with an identity needs Blob Data Owner on the account (the host creates its
// own containers); the same role covers the deployment package, retry and dead-letter blobs.
resource functionsBlobs 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionsIdentity.id, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    description: 'functions: host storage, deployment package, retry and dead-letter stores'
    principalId: functionsIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
  }
}

resource functionsSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, functionsIdentity.id, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    description: 'functions: resolve secret:NAME references of tenant destinations'
    principalId: functionsIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

resource functionsTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, functionsIdentity.id, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    description: 'functions: send telemetry with Microsoft Entra ID'
    principalId: functionsIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

// ---------------------------------------------------------------- deploying user

var grantDeployer = !empty(deployerPrincipalId)

resource deployerTables 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantDeployer) {
  name: guid(storage.id, deployerPrincipalId, roles.storageTableDataContributor)
  scope: storage
  properties: {
    description: 'deployer: otlpctl tenants, status, replay'
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
  }
}

resource deployerQueues 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantDeployer) {
  name: guid(storage.id, deployerPrincipalId, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    description: 'deployer: otlpctl status (drain-jobs queue)'
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
  }
}

resource deployerBlobs 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantDeployer) {
  name: guid(storage.id, deployerPrincipalId, roles.storageBlobDataContributor)
  scope: storage
  properties: {
    description: 'deployer: otlpctl deadletter list/show/redrive'
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
  }
}

resource deployerEventHubs 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantDeployer) {
  name: guid(eventHubsNamespace::hub.id, deployerPrincipalId, roles.eventHubsDataReceiver)
  scope: eventHubsNamespace::hub
  properties: {
    description: 'deployer: otlpctl status (partition lag)'
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventHubsDataReceiver)
  }
}

resource deployerSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantDeployer) {
  name: guid(vault.id, deployerPrincipalId, roles.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    description: 'deployer: store tenant backend secrets'
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
  }
}
