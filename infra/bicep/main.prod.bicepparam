// Production shape: warm gateway replicas, zone-redundant storage, auto-inflating Event Hubs
// throughput, purge-protected Key Vault, alerts by email. For sustained high volume or
// retention beyond 7 days choose eventHubsSku = 'Premium' (up to 100 partitions, 90 days).
//   az deployment sub create -l swedencentral -f main.bicep -p main.prod.bicepparam
using 'main.bicep'

param environmentName = readEnvironmentVariable('AZURE_ENV_NAME', 'otlp-prod')
param location = readEnvironmentVariable('AZURE_LOCATION', 'swedencentral')
param deployerPrincipalId = readEnvironmentVariable('AZURE_PRINCIPAL_ID', '')
param deployerPrincipalType = readEnvironmentVariable('AZURE_PRINCIPAL_TYPE', 'User')
param gatewayExists = bool(readEnvironmentVariable('SERVICE_GATEWAY_RESOURCE_EXISTS', 'false'))
// The preprovision hook sets it (generated once, then read back from Key Vault); required.
param keyPepper = readEnvironmentVariable('SERVERLESSOTLP_KEY_PEPPER', '')

param eventHubsSku = 'Standard'
param eventHubsCapacity = 2
param eventHubsAutoInflateMaximumThroughputUnits = 20
param eventHubsPartitionCount = 32
param eventHubsRetentionHours = 168

param storageSku = 'Standard_ZRS'
param deadLetterRetentionDays = 30
param retryRetentionDays = 7

param registrySku = 'Standard'
param gatewayCpu = '1'
param gatewayMemory = '2Gi'
param gatewayMinReplicas = 2
param gatewayMaxReplicas = 30
param gatewayConcurrentRequestsPerReplica = 200

param functionsInstanceMemoryMB = 2048
param functionsMaximumInstanceCount = 100

param keyVaultSoftDeleteRetentionInDays = 90
param keyVaultPurgeProtection = true
param logRetentionInDays = 90
param logDailyQuotaGb = -1
param drainStallAlertWindow = 'PT30M'
param alertEmail = readEnvironmentVariable('SERVERLESSOTLP_ALERT_EMAIL', '')
