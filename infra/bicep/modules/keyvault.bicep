// Key Vault for tenant backend secrets (destination headers written as `secret:NAME`) and the
// pepper of the API key digests (secret `key-pepper-1`, read by the gateway through a Container App
// Key Vault reference). RBAC authorization only (no access policies).
// Idle cost: none (per-operation pricing).

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('Vault name (3-24 characters).')
@minLength(3)
@maxLength(24)
param name string

@description('Days a deleted vault or secret can be recovered.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int

@description('Purge protection cannot be turned off once on; leave it off in throw-away environments.')
param enablePurgeProtection bool

@description('Base64 of at least 32 random bytes: the pepper API keys are digested with (HMAC-SHA-256). The preprovision hook generates it once and reads it back from this vault afterwards; a new value would invalidate every stored key.')
@secure()
@minLength(44)
param keyPepper string

@description('Secret holding the pepper (version 1; a rotation adds version 2, README: Security).')
param keyPepperSecretName string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    // The API accepts true or null, never false.
    enablePurgeProtection: enablePurgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource pepper 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: keyPepperSecretName
  properties: {
    value: keyPepper
    contentType: 'base64'
  }
}

output name string = vault.name
// Where the pepper is, not what it is: without a version, so the Container App follows the current one.
output pepperUri string = '${vault.properties.vaultUri}secrets/${pepper.name}'
output uri string = vault.properties.vaultUri
