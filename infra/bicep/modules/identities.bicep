// One user-assigned identity per workload, so each gets only the roles it needs
// (see access.bicep). User-assigned identities exist before the apps, so role
// assignments are in place when the first revision / instance starts.

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('Name of the gateway (Container App) identity.')
param gatewayIdentityName string

@description('Name of the functions (Function App) identity.')
param functionsIdentityName string

resource gatewayIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: gatewayIdentityName
  location: location
  tags: tags
}

resource functionsIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: functionsIdentityName
  location: location
  tags: tags
}

output gatewayIdentityId string = gatewayIdentity.id
output gatewayIdentityName string = gatewayIdentity.name
output gatewayIdentityClientId string = gatewayIdentity.properties.clientId
output functionsIdentityId string = functionsIdentity.id
output functionsIdentityName string = functionsIdentity.name
output functionsIdentityClientId string = functionsIdentity.properties.clientId
