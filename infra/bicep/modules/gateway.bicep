// The gateway on Azure Container Apps. The ingress terminates TLS and speaks HTTP/2 (h2c)
// to the single port that serves OTLP/gRPC and OTLP/HTTP; health probes use the HTTP/1.1
// management port, which the ingress does not expose. Scale: an HTTP concurrency rule
// between minReplicas and maxReplicas. Idle cost: none at minReplicas = 0 (cold start on
// the first request; clients retry); each always-on 0.5 vCPU/1 GiB replica ≈ USD 40/month
// after the monthly free grant.

@description('Azure region.')
param location string

@description('Tags for every resource (azd-service-name is added here).')
param tags object

@description('Container App name.')
param name string

@description('Container Apps environment id.')
param environmentId string

@description('The environment\'s default domain: the app\'s public URL (offered to OpAMP agents) is https://<name>.<this>.')
param environmentDefaultDomain string

@description('Image to run (the placeholder until `azd deploy` pushes the gateway).')
param image string

@description('User-assigned identity the app runs as (pulls the image, sends to Event Hubs, reads tenants).')
param identityId string

@description('Client id of that identity (AZURE_CLIENT_ID for DefaultAzureCredential).')
param identityClientId string

@description('Registry login server, e.g. myregistry.azurecr.io.')
param registryServer string

@description('Storage account holding the tables.')
param storageAccountName string

@description('Event Hubs host name, <namespace>.servicebus.windows.net.')
param eventHubsFullyQualifiedNamespace string

@description('Event hub name.')
param eventHubName string

@description('Consumer group of the live drain: keys the leases whose holders the gateway checks before it pushes a drain job.')
param consumerGroupName string

@description('Application Insights component (its connection string is stored as a Container App secret).')
param applicationInsightsName string

@description('Key Vault secret URI (without a version) of the API key pepper, version 1; read with the app\'s identity.')
param keyPepperSecretUri string

@description('HTTP/2-only (h2c) port serving OTLP/gRPC and OTLP/HTTP behind the ingress.')
param singlePort int

@description('HTTP/1.1 management port (/healthz, /readyz, /metrics); not exposed by the ingress.')
param managementPort int

@description('vCPU per replica (0.25 steps; memory must be 2 GiB per vCPU).')
param cpu string

@description('Memory per replica, e.g. 1Gi.')
param memory string

@description('Replicas kept running at idle (0 = scale to zero).')
@minValue(0)
@maxValue(1000)
param minReplicas int

@description('Upper bound on replicas.')
@minValue(1)
@maxValue(1000)
param maxReplicas int

@description('Concurrent requests per replica before the HTTP scale rule adds one.')
@minValue(1)
param concurrentRequestsPerReplica int

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

var appInsightsSecretName = 'appinsights-connection-string'

resource app 'Microsoft.App/containerApps@2024-03-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'gateway' })
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    managedEnvironmentId: environmentId
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: true
        targetPort: singlePort
        transport: 'http2'
        allowInsecure: false
        traffic: [
          {
            latestRevision: true
            weight: 100
          }
        ]
      }
      registries: [
        {
          server: registryServer
          identity: identityId
        }
      ]
      secrets: [
        {
          name: appInsightsSecretName
          value: appInsights.properties.ConnectionString
        }
        {
          // A Key Vault reference: the value never passes through the deployment.
          name: 'key-pepper-1'
          keyVaultUrl: keyPepperSecretUri
          identity: identityId
        }
      ]
    }
    template: {
      terminationGracePeriodSeconds: 30
      containers: [
        {
          name: 'gateway'
          image: image
          resources: {
            cpu: json(cpu)
            memory: memory
          }
          env: [
            { name: 'AZURE_CLIENT_ID', value: identityClientId }
            { name: 'ServerlessOtlp__Storage__AccountName', value: storageAccountName }
            { name: 'ServerlessOtlp__Log__Kind', value: 'eventhubs' }
            { name: 'ServerlessOtlp__Log__EventHubs__FullyQualifiedNamespace', value: eventHubsFullyQualifiedNamespace }
            { name: 'ServerlessOtlp__Log__EventHubs__EventHubName', value: eventHubName }
            { name: 'ServerlessOtlp__Log__EventHubs__ConsumerGroup', value: consumerGroupName }
            { name: 'ServerlessOtlp__Gateway__SinglePort', value: string(singlePort) }
            { name: 'ServerlessOtlp__Gateway__ManagementPort', value: string(managementPort) }
            { name: 'ServerlessOtlp__Gateway__PublicUrl', value: 'https://${name}.${environmentDefaultDomain}' }
            // The ingress (Envoy) appends the client's address to X-Forwarded-For: one trusted hop, so
            // per-address limits see clients, not the ingress, and a client cannot pick its own address.
            { name: 'ServerlessOtlp__Gateway__TrustedProxyHops', value: '1' }
            { name: 'ServerlessOtlp__Tenants__KeyPeppers__1', secretRef: 'key-pepper-1' }
            { name: 'ServerlessOtlp__Tenants__KeyPepperVersion', value: '1' }
            { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', secretRef: appInsightsSecretName }
            // Ingestion with the identity (Monitoring Metrics Publisher): the component's local auth is off.
            { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identityClientId};Authorization=AAD' }
            { name: 'OTEL_SERVICE_NAME', value: 'serverlessotlp-gateway' }
          ]
          probes: [
            {
              type: 'Startup'
              httpGet: {
                path: '/healthz'
                port: managementPort
                scheme: 'HTTP'
              }
              periodSeconds: 2
              failureThreshold: 30
              timeoutSeconds: 2
            }
            {
              type: 'Liveness'
              httpGet: {
                path: '/healthz'
                port: managementPort
                scheme: 'HTTP'
              }
              periodSeconds: 10
              failureThreshold: 3
              timeoutSeconds: 2
            }
            {
              type: 'Readiness'
              httpGet: {
                path: '/readyz'
                port: managementPort
                scheme: 'HTTP'
              }
              periodSeconds: 5
              failureThreshold: 3
              timeoutSeconds: 2
            }
          ]
        }
      ]
      scale: {
        minReplicas: minReplicas
        maxReplicas: maxReplicas
        rules: [
          {
            name: 'http-concurrency'
            http: {
              metadata: {
                concurrentRequests: string(concurrentRequestsPerReplica)
              }
            }
          }
        ]
      }
    }
  }
}

output name string = app.name
output fqdn string = app.properties.configuration.ingress.fqdn
