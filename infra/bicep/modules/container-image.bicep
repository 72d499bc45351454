// The image the gateway Container App runs now, so that `azd provision` after `azd deploy`
// keeps the deployed image instead of resetting it to the placeholder. A separate module
// because a template cannot read a resource it is also deploying.

@description('Whether the Container App exists already (azd sets SERVICE_GATEWAY_RESOURCE_EXISTS).')
param exists bool

@description('Container App name.')
param name string

@description('Image used before the first `azd deploy`.')
param placeholderImage string

resource app 'Microsoft.App/containerApps@2024-03-01' existing = if (exists) {
  name: name
}

output image string = exists ? app!.properties.template.containers[0].image : placeholderImage
