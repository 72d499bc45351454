# azd preprovision hook (Windows / PowerShell): tell main.bicep what kind of principal runs the
# deployment (AZURE_PRINCIPAL_TYPE). Same behaviour as preprovision.sh.
$ErrorActionPreference = 'Stop'

if ($env:AZURE_PRINCIPAL_TYPE) {
    Write-Host "preprovision: AZURE_PRINCIPAL_TYPE=$($env:AZURE_PRINCIPAL_TYPE) (from the azd environment)"
    exit 0
}

$type = $null
if (Get-Command az -ErrorAction SilentlyContinue) {
    switch ((az account show --query user.type --output tsv 2>$null)) {
        'servicePrincipal' { $type = 'ServicePrincipal' }
        'user' { $type = 'User' }
    }
}

if (-not $type) {
    if ($env:AZURE_CLIENT_ID -or $env:ARM_CLIENT_ID -or $env:AZURE_FEDERATED_TOKEN_FILE -or $env:CI -or $env:GITHUB_ACTIONS -or $env:TF_BUILD) {
        $type = 'ServicePrincipal'
    } else {
        $type = 'User'
    }
}

azd env set AZURE_PRINCIPAL_TYPE $type
Write-Host "preprovision: AZURE_PRINCIPAL_TYPE=$type (set AZURE_PRINCIPAL_TYPE in the azd environment to choose)"
