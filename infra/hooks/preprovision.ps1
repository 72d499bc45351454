# azd preprovision hook (Windows / PowerShell): the API key pepper (SERVERLESSOTLP_KEY_PEPPER) and
# what kind of principal runs the deployment (AZURE_PRINCIPAL_TYPE). Same behaviour as preprovision.sh.
$ErrorActionPreference = 'Stop'

if ($env:SERVERLESSOTLP_KEY_PEPPER) {
    Write-Host "preprovision: key pepper from the azd environment"
} elseif ($env:AZURE_KEY_VAULT_NAME) {
    # Never a new pepper for a deployment that has one: it would invalidate every API key.
    $value = az keyvault secret show --vault-name $env:AZURE_KEY_VAULT_NAME --name key-pepper-1 --query value --output tsv
    if ($LASTEXITCODE -ne 0 -or -not $value) {
        Write-Error "preprovision: Key Vault $($env:AZURE_KEY_VAULT_NAME) exists but its key-pepper-1 could not be read; sign in with access to it or set SERVERLESSOTLP_KEY_PEPPER. A new pepper would invalidate every API key, so none is generated."
        exit 1
    }
    azd env set SERVERLESSOTLP_KEY_PEPPER $value
    Write-Host "preprovision: key pepper read from Key Vault $($env:AZURE_KEY_VAULT_NAME)"
} else {
    $bytes = [byte[]]::new(32)
    [System.Security.Cryptography.RandomNumberGenerator]::Fill($bytes)
    azd env set SERVERLESSOTLP_KEY_PEPPER ([Convert]::ToBase64String($bytes))
    Write-Host "preprovision: generated the key pepper (first deployment; kept in Key Vault as key-pepper-1)"
}

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
