// Event Hubs: the durable, partitioned log between the gateway and the functions.
// Local (SAS) auth is disabled; producers and consumers use Microsoft Entra ID.
// Idle cost: Standard bills per throughput unit-hour whether or not data flows
// (1 TU ≈ USD 22/month); Premium bills per processing unit-hour (≈ USD 900/month per PU).

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('Namespace name (6-50 characters).')
param namespaceName string

@description('Standard (default; partitions ≤ 32, retention ≤ 7 days) or Premium (partitions ≤ 100 per hub, retention ≤ 90 days).')
@allowed([
  'Standard'
  'Premium'
])
param sku string

@description('Throughput units (Standard, 1-40) or processing units (Premium: 1, 2, 4, 8 or 16).')
@minValue(1)
@maxValue(40)
param capacity int

@description('Standard only: let Event Hubs raise throughput units up to this number under load (0 turns auto-inflate off).')
@minValue(0)
@maxValue(40)
param autoInflateMaximumThroughputUnits int

@description('Event hub name.')
param eventHubName string

@description('Partition count. Fixed for the life of a Standard hub; the log records it and every component reads it from there.')
@minValue(1)
@maxValue(100)
param partitionCount int

@description('Hours an event stays readable (Standard ≤ 168, Premium ≤ 2160). Acknowledged data older than this is lost if the drains fall behind.')
@minValue(1)
@maxValue(2160)
param retentionHours int

@description('Consumer group the functions read with.')
param consumerGroupName string

@description('Consumer group of per-tenant replay cursors: their receivers are non-exclusive, so they cannot share the live drain\'s group, where receivers hold an owner level.')
param replayConsumerGroupName string

var isPremium = sku == 'Premium'

// The service's limits per tier (learn.microsoft.com/azure/event-hubs/event-hubs-quotas), checked here because
// one parameter serves both tiers: Standard keeps events at most 7 days and has at most 32 partitions per hub;
// Premium is sold in 1, 2, 4, 8 or 16 processing units. A deployment past them fails before anything is created.
var standardMaxRetentionHours = 168
var standardMaxPartitions = 32
var premiumCapacities = [1, 2, 4, 8, 16]
var checkedRetentionHours = !isPremium && retentionHours > standardMaxRetentionHours
  ? fail('Event Hubs retention over ${standardMaxRetentionHours} h needs Premium (up to 2160 h) or Dedicated; Standard keeps 7 days at most.')
  : retentionHours
var checkedPartitionCount = !isPremium && partitionCount > standardMaxPartitions
  ? fail('Event Hubs Standard allows ${standardMaxPartitions} partitions per hub; more need Premium (100) or Dedicated.')
  : partitionCount
var checkedCapacity = isPremium && !contains(premiumCapacities, capacity)
  ? fail('Event Hubs Premium comes in 1, 2, 4, 8 or 16 processing units.')
  : capacity

resource namespace 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: namespaceName
  location: location
  tags: tags
  sku: {
    name: sku
    tier: sku
    capacity: checkedCapacity
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    isAutoInflateEnabled: !isPremium && autoInflateMaximumThroughputUnits > 0
    maximumThroughputUnits: !isPremium && autoInflateMaximumThroughputUnits > 0 ? autoInflateMaximumThroughputUnits : 0
  }
}

resource hub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: namespace
  name: eventHubName
  properties: {
    partitionCount: checkedPartitionCount
    retentionDescription: {
      cleanupPolicy: 'Delete'
      retentionTimeInHours: checkedRetentionHours
    }
  }
}

resource consumerGroup 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = {
  parent: hub
  name: consumerGroupName
  properties: {
    userMetadata: 'ServerlessOtlp drain functions'
  }
}

resource replayConsumerGroup 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = {
  parent: hub
  name: replayConsumerGroupName
  properties: {
    userMetadata: 'ServerlessOtlp per-tenant replay cursors'
  }
}

output namespaceName string = namespace.name
output namespaceId string = namespace.id
@description('Host name the SDK connects to: <namespace>.servicebus.windows.net (or the sovereign-cloud equivalent).')
output fullyQualifiedNamespace string = split(split(namespace.properties.serviceBusEndpoint, '//')[1], ':')[0]
output eventHubName string = hub.name
output consumerGroupName string = consumerGroup.name
output replayConsumerGroupName string = replayConsumerGroup.name
