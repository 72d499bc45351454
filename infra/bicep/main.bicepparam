// Parameters azd uses (`azd provision` / `azd up`). The dev shape by default; every value can
// be overridden with `azd env set NAME value` for the variables read below, or start from
// main.prod.bicepparam for production (see ../README.md).
using 'main.bicep'

param environmentName = readEnvironmentVariable('AZURE_ENV_NAME', 'dev')
param location = readEnvironmentVariable('AZURE_LOCATION', 'swedencentral')
param deployerPrincipalId = readEnvironmentVariable('AZURE_PRINCIPAL_ID', '')
param deployerPrincipalType = readEnvironmentVariable('AZURE_PRINCIPAL_TYPE', 'User')
param gatewayExists = bool(readEnvironmentVariable('SERVICE_GATEWAY_RESOURCE_EXISTS', 'false'))
// The preprovision hook sets it (generated once, then read back from Key Vault); required.
param keyPepper = readEnvironmentVariable('SERVERLESSOTLP_KEY_PEPPER', '')

param eventHubsSku = readEnvironmentVariable('SERVERLESSOTLP_EVENTHUBS_SKU', 'Standard')
param eventHubsPartitionCount = int(readEnvironmentVariable('SERVERLESSOTLP_PARTITIONS', '32'))
param eventHubsRetentionHours = int(readEnvironmentVariable('SERVERLESSOTLP_RETENTION_HOURS', '168'))
param gatewayMinReplicas = int(readEnvironmentVariable('SERVERLESSOTLP_GATEWAY_MIN_REPLICAS', '0'))
param alertEmail = readEnvironmentVariable('SERVERLESSOTLP_ALERT_EMAIL', '')
