// ServerlessOtlp on Azure: gateway on Container Apps → Event Hubs → drain functions on
// Flex Consumption, state in Table storage, secrets in Key Vault, telemetry in
// Application Insights. Identities instead of keys, least privilege (modules/access.bicep).
//
//   azd up                                  (azd reads main.bicepparam)
//   az deployment sub create -l <region> -f main.bicep -p main.prod.bicepparam

targetScope = 'subscription'

// ---------------------------------------------------------------- environment

@description('Name of the environment (azd: AZURE_ENV_NAME); part of every resource name.')
@minLength(1)
@maxLength(40)
param environmentName string

@description('Azure region for every resource (must offer Flex Consumption).')
@minLength(1)
param location string

@description('Resource group to create; empty for rg-<environmentName>.')
param resourceGroupName string = ''

@description('Extra tags for every resource.')
param tags object = {}

@description('Object id of the deploying user or service principal (azd: AZURE_PRINCIPAL_ID). It gets the data-plane roles otlpctl needs, since shared keys are off. Empty to grant nothing.')
param deployerPrincipalId string = ''

@description('Type of the deploying principal.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param deployerPrincipalType string = 'User'

// ---------------------------------------------------------------- Event Hubs (the log)

@description('Event Hubs tier: Standard (partitions ≤ 32, retention ≤ 7 days) or Premium (≤ 100 partitions, ≤ 90 days).')
@allowed([
  'Standard'
  'Premium'
])
param eventHubsSku string = 'Standard'

@description('Throughput units (Standard, 1-40; each takes 1 MB/s or 1000 events/s in) or processing units (Premium: 1, 2, 4, 8 or 16).')
@minValue(1)
@maxValue(40)
param eventHubsCapacity int = 1

@description('Standard only: auto-inflate up to this many throughput units (0 = off).')
@minValue(0)
@maxValue(40)
param eventHubsAutoInflateMaximumThroughputUnits int = 0

@description('Event hub name.')
param eventHubName string = 'otlp'

@description('Partitions of the hub: the unit of parallel draining. Cannot be changed later on Standard.')
@minValue(1)
@maxValue(100)
param eventHubsPartitionCount int = 32

@description('Hours events stay readable: Standard ≤ 168, Premium ≤ 2160 (checked against the tier). Acknowledged data older than this is lost if the drains fall behind.')
@minValue(1)
@maxValue(2160)
param eventHubsRetentionHours int = 168

@description('Consumer group the drain functions read with.')
param eventHubsConsumerGroupName string = 'functions'

@description('Consumer group of per-tenant replay cursors (non-exclusive receivers beside the live drain\'s).')
param eventHubsReplayConsumerGroupName string = 'replay'

// ---------------------------------------------------------------- storage

@description('Storage replication.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param storageSku string = 'Standard_LRS'

@description('Dead letters are deleted after this many days.')
@minValue(1)
param deadLetterRetentionDays int = 30

@description('Retry-store blobs are deleted after this many days.')
@minValue(1)
param retryRetentionDays int = 7

// ---------------------------------------------------------------- gateway

@description('Container registry tier.')
@allowed([
  'Basic'
  'Standard'
  'Premium'
])
param registrySku string = 'Basic'

@description('Set by azd (SERVICE_GATEWAY_RESOURCE_EXISTS): keep the deployed gateway image on re-provision.')
param gatewayExists bool = false

@description('Image the gateway runs until the first `azd deploy`.')
param gatewayPlaceholderImage string = 'mcr.microsoft.com/k8se/quickstart:latest'

@description('vCPU per gateway replica.')
@allowed([
  '0.25'
  '0.5'
  '0.75'
  '1'
  '1.25'
  '1.5'
  '1.75'
  '2'
  '3'
  '4'
])
param gatewayCpu string = '0.5'

@description('Memory per gateway replica (2 GiB per vCPU), e.g. 1Gi.')
param gatewayMemory string = '1Gi'

@description('Gateway replicas kept running at idle (0 = scale to zero; first request waits for a cold start).')
@minValue(0)
@maxValue(1000)
param gatewayMinReplicas int = 0

@description('Maximum gateway replicas.')
@minValue(1)
@maxValue(1000)
param gatewayMaxReplicas int = 10

@description('Concurrent requests per gateway replica before another is added.')
@minValue(1)
param gatewayConcurrentRequestsPerReplica int = 100

// ---------------------------------------------------------------- functions

@description('.NET version of the isolated worker on Flex Consumption.')
param functionsRuntimeVersion string = '10.0'

// 2048: a drain process running 8 drains at full speed, each holding an 8 MiB read, peaked at 275 MiB resident, and
// an instance runs as many (host.json) beside the Functions host (BENCHMARKS.md, "Cold start"); 512 would need fewer
// drains or smaller reads.
@description('Memory per function instance in MB (sized by 8 drains per instance, see BENCHMARKS.md).')
@allowed([
  512
  2048
  4096
])
param functionsInstanceMemoryMB int = 2048

@description('Maximum function instances (40-1000).')
@minValue(40)
@maxValue(1000)
param functionsMaximumInstanceCount int = 40

@description('Always-ready function instances, e.g. [{ name: \'function:Dispatch\', instanceCount: 1 }] (billed while idle). Names are `function:` + a function\'s name as the app declares it (case matters), or the groups `http`, `blob`, `durable`.')
param functionsAlwaysReady array = []

// ---------------------------------------------------------------- operations

@description('Key Vault soft-delete retention in days.')
@minValue(7)
@maxValue(90)
param keyVaultSoftDeleteRetentionInDays int = 7

@description('Key Vault purge protection (irreversible; turn on in production).')
param keyVaultPurgeProtection bool = false

@description('API key pepper: base64 of at least 32 random bytes. The preprovision hook supplies it (SERVERLESSOTLP_KEY_PEPPER): generated on the first deployment, read back from the vault after that.')
// No @minLength here: the parameter files read it from the environment with '' as default, which the
// compiler would refuse; the Key Vault module refuses a short value at deployment.
@secure()
param keyPepper string

@description('Log Analytics retention in days.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

@description('Log Analytics daily cap in GB (-1 = none).')
param logDailyQuotaGb int = -1

@description('Window without any drain read while events arrive before the alert fires; keep it well below the retention.')
@allowed([
  'PT15M'
  'PT30M'
  'PT1H'
  'PT6H'
  'PT12H'
])
param drainStallAlertWindow string = 'PT1H'

@description('Email for alerts; empty for none.')
param alertEmail string = ''

// ---------------------------------------------------------------- names

// Ports and storage names the code reads (docs: CONTRACTS.md).
var gatewaySinglePort = 8080
var gatewayManagementPort = 13133
var tableNames = ['checkpoints', 'leases', 'nodes', 'tenants', 'agents']

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var allTags = union(tags, { 'azd-env-name': environmentName, application: 'serverless-otlp' })
var names = {
  resourceGroup: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  logAnalytics: 'log-${resourceToken}'
  applicationInsights: 'appi-${resourceToken}'
  gatewayIdentity: 'id-gateway-${resourceToken}'
  functionsIdentity: 'id-functions-${resourceToken}'
  storage: 'st${resourceToken}'
  eventHubsNamespace: 'evhns-${resourceToken}'
  registry: 'cr${resourceToken}'
  keyVault: 'kv-${resourceToken}'
  keyPepperSecret: 'key-pepper-1'
  containerAppsEnvironment: 'cae-${resourceToken}'
  gatewayApp: 'ca-gateway-${resourceToken}'
  functionsPlan: 'plan-${resourceToken}'
  functionsApp: 'func-${resourceToken}'
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: names.resourceGroup
  location: location
  tags: allTags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: allTags
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.applicationInsights
    retentionInDays: logRetentionInDays
    dailyQuotaGb: logDailyQuotaGb
  }
}

module identities 'modules/identities.bicep' = {
  name: 'identities'
  scope: rg
  params: {
    location: location
    tags: allTags
    gatewayIdentityName: names.gatewayIdentity
    functionsIdentityName: names.functionsIdentity
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    location: location
    tags: allTags
    name: names.storage
    skuName: storageSku
    tableNames: tableNames
    drainJobsQueueName: 'drain-jobs'
    logContainerName: 'otlp-log'
    retryContainerName: 'retry'
    deadLetterContainerName: 'deadletter'
    tenantContainerName: 'tenants'
    deploymentContainerName: 'app-package'
    deadLetterRetentionDays: deadLetterRetentionDays
    retryRetentionDays: retryRetentionDays
  }
}

module eventHubs 'modules/eventhubs.bicep' = {
  name: 'eventhubs'
  scope: rg
  params: {
    location: location
    tags: allTags
    namespaceName: names.eventHubsNamespace
    sku: eventHubsSku
    capacity: eventHubsCapacity
    autoInflateMaximumThroughputUnits: eventHubsAutoInflateMaximumThroughputUnits
    eventHubName: eventHubName
    partitionCount: eventHubsPartitionCount
    retentionHours: eventHubsRetentionHours
    consumerGroupName: eventHubsConsumerGroupName
    replayConsumerGroupName: eventHubsReplayConsumerGroupName
  }
}

module registry 'modules/registry.bicep' = {
  name: 'registry'
  scope: rg
  params: {
    location: location
    tags: allTags
    name: names.registry
    sku: registrySku
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    location: location
    tags: allTags
    name: names.keyVault
    softDeleteRetentionInDays: keyVaultSoftDeleteRetentionInDays
    enablePurgeProtection: keyVaultPurgeProtection
    keyPepper: keyPepper
    keyPepperSecretName: names.keyPepperSecret
  }
}

// Role assignments come before the apps, so the first revision / instance can start.
module access 'modules/access.bicep' = {
  name: 'access'
  scope: rg
  params: {
    gatewayIdentityName: names.gatewayIdentity
    functionsIdentityName: names.functionsIdentity
    storageAccountName: names.storage
    tenantsTableName: 'tenants'
    tenantContainerName: 'tenants'
    nodesTableName: 'nodes'
    agentsTableName: 'agents'
    leasesTableName: 'leases'
    drainJobsQueueName: 'drain-jobs'
    eventHubsNamespaceName: names.eventHubsNamespace
    eventHubName: eventHubName
    registryName: names.registry
    keyVaultName: names.keyVault
    keyPepperSecretName: names.keyPepperSecret
    applicationInsightsName: names.applicationInsights
    deployerPrincipalId: deployerPrincipalId
    deployerPrincipalType: deployerPrincipalType
  }
  // Names are passed as deployment-time constants (precise what-if), so the order is explicit.
  dependsOn: [identities, storage, eventHubs, registry, keyVault, monitoring]
}

module containerAppsEnvironment 'modules/containerapps-env.bicep' = {
  name: 'containerapps-env'
  scope: rg
  params: {
    location: location
    tags: allTags
    name: names.containerAppsEnvironment
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
  }
}

module gatewayImage 'modules/container-image.bicep' = {
  name: 'gateway-image'
  scope: rg
  params: {
    exists: gatewayExists
    name: names.gatewayApp
    placeholderImage: gatewayPlaceholderImage
  }
}

module gateway 'modules/gateway.bicep' = {
  name: 'gateway'
  scope: rg
  params: {
    location: location
    tags: allTags
    name: names.gatewayApp
    environmentId: containerAppsEnvironment.outputs.id
    environmentDefaultDomain: containerAppsEnvironment.outputs.defaultDomain
    image: gatewayImage.outputs.image
    identityId: identities.outputs.gatewayIdentityId
    identityClientId: identities.outputs.gatewayIdentityClientId
    registryServer: registry.outputs.loginServer
    storageAccountName: storage.outputs.name
    eventHubsFullyQualifiedNamespace: eventHubs.outputs.fullyQualifiedNamespace
    eventHubName: eventHubs.outputs.eventHubName
    consumerGroupName: eventHubs.outputs.consumerGroupName
    applicationInsightsName: names.applicationInsights
    keyPepperSecretUri: keyVault.outputs.pepperUri
    singlePort: gatewaySinglePort
    managementPort: gatewayManagementPort
    cpu: gatewayCpu
    memory: gatewayMemory
    minReplicas: gatewayMinReplicas
    maxReplicas: gatewayMaxReplicas
    concurrentRequestsPerReplica: gatewayConcurrentRequestsPerReplica
  }
  dependsOn: [access]
}

module functions 'modules/functions.bicep' = {
  name: 'functions'
  scope: rg
  params: {
    location: location
    tags: allTags
    name: names.functionsApp
    planName: names.functionsPlan
    identityId: identities.outputs.functionsIdentityId
    identityClientId: identities.outputs.functionsIdentityClientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    eventHubsFullyQualifiedNamespace: eventHubs.outputs.fullyQualifiedNamespace
    eventHubName: eventHubs.outputs.eventHubName
    consumerGroupName: eventHubs.outputs.consumerGroupName
    replayConsumerGroupName: eventHubs.outputs.replayConsumerGroupName
    keyVaultUri: keyVault.outputs.uri
    applicationInsightsName: names.applicationInsights
    runtimeVersion: functionsRuntimeVersion
    instanceMemoryMB: functionsInstanceMemoryMB
    maximumInstanceCount: functionsMaximumInstanceCount
    alwaysReady: functionsAlwaysReady
  }
  dependsOn: [access, monitoring]
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    tags: allTags
    namePrefix: 'otlp-${resourceToken}'
    eventHubsNamespaceId: eventHubs.outputs.namespaceId
    eventHubName: eventHubs.outputs.eventHubName
    drainStallWindow: drainStallAlertWindow
    alertEmail: alertEmail
  }
}

// ---------------------------------------------------------------- outputs (azd env)
// Names and endpoints only: never a key or a connection string.

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registry.outputs.loginServer
output AZURE_CONTAINER_REGISTRY_NAME string = registry.outputs.name
output AZURE_CONTAINER_APPS_ENVIRONMENT_NAME string = containerAppsEnvironment.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_EVENTHUBS_NAMESPACE_NAME string = eventHubs.outputs.namespaceName
output AZURE_EVENTHUBS_FULLY_QUALIFIED_NAMESPACE string = eventHubs.outputs.fullyQualifiedNamespace
output AZURE_EVENTHUB_NAME string = eventHubs.outputs.eventHubName
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
output AZURE_FUNCTION_APP_NAME string = functions.outputs.name
output AZURE_GATEWAY_APP_NAME string = gateway.outputs.name
output AZURE_DRAIN_ALERT_NAME string = alerts.outputs.drainAlertName
@description('OTLP endpoint for OTEL_EXPORTER_OTLP_ENDPOINT (gRPC and HTTP on 443).')
output GATEWAY_ENDPOINT string = 'https://${gateway.outputs.fqdn}'
