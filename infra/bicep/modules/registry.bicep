// Azure Container Registry the gateway image is pushed to (by `azd deploy`, optionally
// built remotely with ACR Tasks) and pulled from by the Container App's identity (AcrPull).
// Admin user and anonymous pull are off. Idle cost: Basic ≈ USD 5/month.

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('Registry name (5-50 letters and digits).')
@minLength(5)
@maxLength(50)
param name string

@description('Basic for dev; Standard/Premium for more storage and throughput (Premium adds geo-replication and private link).')
@allowed([
  'Basic'
  'Standard'
  'Premium'
])
param sku string

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: name
  location: location
  tags: tags
  sku: { name: sku }
  properties: {
    adminUserEnabled: false
    publicNetworkAccess: 'Enabled'
  }
}

output name string = registry.name
output loginServer string = registry.properties.loginServer
