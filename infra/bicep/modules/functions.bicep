// The functions (dispatch timer, drain queue trigger, health timer, admin HTTP) on the
// Flex Consumption plan, .NET isolated worker. Every connection is identity-based through
// the user-assigned identity: host storage (AzureWebJobsStorage__*), the deployment
// package container, Event Hubs, tables, Key Vault. Flex Consumption takes runtime and
// deployment settings in functionAppConfig and rejects FUNCTIONS_WORKER_RUNTIME /
// FUNCTIONS_EXTENSION_VERSION app settings.
// Idle cost: on-demand Flex bills execution time and executions only; the dispatch timer
// runs every few seconds, which stays within or near the monthly free grant. Always-ready
// instances (off by default) are billed while idle.

@description('Azure region.')
param location string

@description('Tags for every resource (azd-service-name is added to the app).')
param tags object

@description('Function App name.')
param name string

@description('Flex Consumption plan name.')
param planName string

@description('User-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity.')
param identityClientId string

@description('Storage account: tables, drain-jobs queue, retry/dead-letter containers and host storage.')
param storageAccountName string

@description('Blob endpoint of that account (https://<account>.blob.<suffix>/).')
param storageBlobEndpoint string

@description('Container holding the deployment package.')
param deploymentContainerName string

@description('Event Hubs host name, <namespace>.servicebus.windows.net.')
param eventHubsFullyQualifiedNamespace string

@description('Event hub name.')
param eventHubName string

@description('Consumer group the drains read with.')
param consumerGroupName string

@description('Event Hubs consumer group of per-tenant replay cursors.')
param replayConsumerGroupName string

@description('Key Vault URI for `secret:NAME` references in tenant destinations.')
param keyVaultUri string

@description('Application Insights component name.')
param applicationInsightsName string

@description('.NET version of the isolated worker.')
param runtimeVersion string

@description('Memory per instance in MB (Flex Consumption sizes).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('NCRONTAB of the Dispatch timer (safety net for lag no push announced).')
param dispatchSchedule string = '0 */10 * * * *'

@description('NCRONTAB of the Maintenance timer (failure detector, retry store, retention when nothing drains).')
param maintenanceSchedule string = '0 5-59/10 * * * *'

@description('Upper bound on instances (Flex Consumption accepts 40-1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

@description('Always-ready instances, e.g. [{ name: \'function:Dispatch\', instanceCount: 1 }]; billed while idle.')
param alwaysReady array

// Flex Consumption matches `function:<name>` against the names the app declares ([Function("…")]), case
// included: a misspelt entry keeps nothing warm and bills nothing, silently. Refuse it instead.
var alwaysReadyNames = [
  'http'
  'blob'
  'durable'
  'function:AdminRedrive'
  'function:AdminReplay'
  'function:AdminStatus'
  'function:Dispatch'
  'function:Drain'
  'function:Maintenance'
]
var checkedAlwaysReady = [
  for entry in alwaysReady: contains(alwaysReadyNames, entry.name)
    ? entry
    : fail('alwaysReady: "${entry.name}" is not one of ${join(alwaysReadyNames, ', ')} (function names are case-sensitive).')
]

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'functions' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        alwaysReady: checkedAlwaysReady
      }
      runtime: {
        name: 'dotnet-isolated'
        version: runtimeVersion
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [
        // Functions host storage (timers' singleton locks, the drain-jobs queue trigger).
        { name: 'AzureWebJobsStorage__accountName', value: storageAccountName }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identityClientId }
        // DefaultAzureCredential in the application code.
        { name: 'AZURE_CLIENT_ID', value: identityClientId }
        { name: 'ServerlessOtlp__Storage__AccountName', value: storageAccountName }
        { name: 'ServerlessOtlp__Log__Kind', value: 'eventhubs' }
        { name: 'ServerlessOtlp__Log__EventHubs__FullyQualifiedNamespace', value: eventHubsFullyQualifiedNamespace }
        { name: 'ServerlessOtlp__Log__EventHubs__EventHubName', value: eventHubName }
        { name: 'ServerlessOtlp__Log__EventHubs__ConsumerGroup', value: consumerGroupName }
        { name: 'ServerlessOtlp__Log__EventHubs__ReplayConsumerGroup', value: replayConsumerGroupName }
        { name: 'ServerlessOtlp__KeyVault__Uri', value: keyVaultUri }
        // The timers' schedules are %setting% bindings: the host needs them to load the functions. Both
        // are safety nets (drains are pushed by the gateway): each idle execution is billed.
        { name: 'ServerlessOtlp__Functions__DispatchSchedule', value: dispatchSchedule }
        { name: 'ServerlessOtlp__Functions__MaintenanceSchedule', value: maintenanceSchedule }
        // Telemetry: the connection string only addresses the component; ingestion is
        // authenticated with the identity (Monitoring Metrics Publisher).
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsights.properties.ConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identityClientId};Authorization=AAD' }
        { name: 'OTEL_SERVICE_NAME', value: 'serverlessotlp-functions' }
      ]
    }
  }
}

// Deployments go through Microsoft Entra ID (azd, az functionapp deploy); no publishing passwords.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: { allow: false }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: { allow: false }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
