// Alerts on the log. Event Hubs deletes events after the retention period whether or not
// the drains have read them: acknowledged data older than the retention is lost if the
// drains fall behind. Event Hubs exposes no consumer-lag metric for checkpoints kept
// outside it, so the platform-side alert fires when data arrives but the drains read
// nothing for a whole window (stalled or failing drains) — set the window well below the
// retention. A throttling alert says when the namespace needs more capacity.
// Idle cost: about USD 0.10 per monitored metric time series per month.

@description('Tags for every resource.')
param tags object

@description('Name prefix for the alert rules.')
param namePrefix string

@description('Event Hubs namespace id.')
param eventHubsNamespaceId string

@description('Event hub name (the metrics are split by it).')
param eventHubName string

@description('Window without any read while events arrive before the drain alert fires.')
@allowed([
  'PT15M'
  'PT30M'
  'PT1H'
  'PT6H'
  'PT12H'
])
param drainStallWindow string

@description('Email address that receives the alerts; empty for none (the alerts still show in Azure Monitor).')
param alertEmail string

var notify = !empty(alertEmail)

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (notify) {
  name: '${namePrefix}-ops'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'otlp-ops'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var actions = notify ? [{ actionGroupId: actionGroup.id }] : []
var hubDimension = [
  {
    name: 'EntityName'
    operator: 'Include'
    values: [eventHubName]
  }
]

resource drainsBehind 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-drains-behind'
  location: 'global'
  tags: tags
  properties: {
    description: 'Events arrive in ${eventHubName} but the drains read none for ${drainStallWindow}. Events older than the hub retention are deleted unread: check the drain function and `otlpctl status`.'
    severity: 1
    enabled: true
    scopes: [eventHubsNamespaceId]
    evaluationFrequency: drainStallWindow == 'PT15M' ? 'PT5M' : 'PT15M'
    windowSize: drainStallWindow
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'events-arrive'
          metricNamespace: 'Microsoft.EventHub/namespaces'
          metricName: 'IncomingMessages'
          dimensions: hubDimension
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'drains-read-nothing'
          metricNamespace: 'Microsoft.EventHub/namespaces'
          metricName: 'OutgoingMessages'
          dimensions: hubDimension
          operator: 'LessThan'
          threshold: 1
          timeAggregation: 'Total'
        }
      ]
    }
    actions: actions
  }
}

resource throttled 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-eventhubs-throttled'
  location: 'global'
  tags: tags
  properties: {
    description: 'Event Hubs throttles requests: the gateway answers 429/503 and clients retry. Raise throughput units (or processing units on Premium).'
    severity: 2
    enabled: true
    scopes: [eventHubsNamespaceId]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'throttled-requests'
          metricNamespace: 'Microsoft.EventHub/namespaces'
          metricName: 'ThrottledRequests'
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    actions: actions
  }
}

output drainAlertName string = drainsBehind.name
