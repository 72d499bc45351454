// The storage account shared by the gateway and the functions: checkpoint, lease, node and
// tenant tables and the tenants container; the drain-jobs queue; the retry and dead-letter stores; the Functions host
// storage (AzureWebJobsStorage) and the Flex Consumption deployment package container.
// Shared-key access is off: every client uses Microsoft Entra ID (managed identity).
// Idle cost: a few cents a month (capacity + the Functions host's polling transactions).

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('Storage account name (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param name string

@description('Replication: Standard_LRS for dev, Standard_ZRS where the region offers zones.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param skuName string

@description('Tables the code reads and writes (names are the code\'s defaults).')
param tableNames array

@description('Queue that carries drain jobs (the Functions queue trigger listens on it).')
param drainJobsQueueName string

@description('Container of the local blob log; unused when the log is Event Hubs, kept so `--log blob` works against Azure.')
param logContainerName string

@description('Container of the retry store.')
param retryContainerName string

@description('Container of the dead-letter store.')
param deadLetterContainerName string

@description('Container of tenant configs too large for a table row (the gateway and the functions read them, otlpctl writes them).')
param tenantContainerName string

@description('Container holding the Function App deployment package (Flex Consumption).')
param deploymentContainerName string

@description('Dead letters older than this many days are deleted.')
@minValue(1)
param deadLetterRetentionDays int

@description('Retry-store blobs older than this many days are deleted (data the backend never took back).')
@minValue(1)
param retryRetentionDays int

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: skuName }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for containerName in [logContainerName, retryContainerName, deadLetterContainerName, tenantContainerName, deploymentContainerName]: {
    parent: blobService
    name: containerName
    properties: { publicAccess: 'None' }
  }
]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource drainJobsQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: drainJobsQueueName
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for tableName in tableNames: {
    parent: tableService
    name: tableName
  }
]

// Lifecycle rules: the retry store and the dead-letter store are bounded in age.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'expire-deadletter'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: ['blockBlob', 'appendBlob']
              prefixMatch: ['${deadLetterContainerName}/']
            }
            actions: {
              baseBlob: { delete: { daysAfterModificationGreaterThan: deadLetterRetentionDays } }
            }
          }
        }
        {
          name: 'expire-retry'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: ['blockBlob', 'appendBlob']
              prefixMatch: ['${retryContainerName}/']
            }
            actions: {
              baseBlob: { delete: { daysAfterModificationGreaterThan: retryRetentionDays } }
            }
          }
        }
      ]
    }
  }
  dependsOn: [containers]
}

output name string = account.name
output id string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob
output drainJobsQueueName string = drainJobsQueue.name
output tableNames array = [for (tableName, i) in tableNames: tables[i].name]
output deploymentContainerName string = deploymentContainerName
