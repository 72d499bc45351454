// Container Apps environment (workload-profile type, Consumption profile). Console and
// system logs go to Log Analytics through a diagnostic setting, so no workspace key is
// handed to the environment. Idle cost: none on the Consumption profile.

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('Environment name.')
param name string

@description('Log Analytics workspace that receives the environment\'s logs.')
param logAnalyticsWorkspaceId string

@description('Spread replicas across availability zones (needs a VNet-integrated environment; off by default).')
param zoneRedundant bool = false

resource environment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
    zoneRedundant: zoneRedundant
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: environment
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
  }
}

output id string = environment.id
output name string = environment.name
output defaultDomain string = environment.properties.defaultDomain
