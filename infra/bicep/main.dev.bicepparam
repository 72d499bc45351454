// Dev shape: scale to zero wherever the platform allows it, smallest SKUs, no purge
// protection (so the environment can be deleted and recreated under the same names).
//   az deployment sub create -l swedencentral -f main.bicep -p main.dev.bicepparam
using 'main.bicep'

param environmentName = readEnvironmentVariable('AZURE_ENV_NAME', 'otlp-dev')
param location = readEnvironmentVariable('AZURE_LOCATION', 'swedencentral')
param deployerPrincipalId = readEnvironmentVariable('AZURE_PRINCIPAL_ID', '')
param gatewayExists = bool(readEnvironmentVariable('SERVICE_GATEWAY_RESOURCE_EXISTS', 'false'))
// The preprovision hook sets it (generated once, then read back from Key Vault); required.
param keyPepper = readEnvironmentVariable('SERVERLESSOTLP_KEY_PEPPER', '')

// Log: 1 throughput unit, 32 partitions, 7 days (the Standard maximum, at no extra cost).
param eventHubsSku = 'Standard'
param eventHubsCapacity = 1
param eventHubsAutoInflateMaximumThroughputUnits = 0
param eventHubsPartitionCount = 32
param eventHubsRetentionHours = 168

param storageSku = 'Standard_LRS'
param deadLetterRetentionDays = 14
param retryRetentionDays = 3

param registrySku = 'Basic'
param gatewayCpu = '0.5'
param gatewayMemory = '1Gi'
param gatewayMinReplicas = 0
param gatewayMaxReplicas = 5

param functionsInstanceMemoryMB = 2048
param functionsMaximumInstanceCount = 40

param keyVaultSoftDeleteRetentionInDays = 7
param keyVaultPurgeProtection = false
param logRetentionInDays = 30
param logDailyQuotaGb = 1
param drainStallAlertWindow = 'PT1H'
param alertEmail = readEnvironmentVariable('SERVERLESSOTLP_ALERT_EMAIL', '')
