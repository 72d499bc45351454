# azd postprovision hook (Windows / PowerShell): create the first tenant and hand its API key
# over once. Same behaviour as postprovision.sh: printed only on an interactive console outside
# CI, otherwise written to a file only its owner can read (never to a pipeline's log).
$ErrorActionPreference = 'Stop'

$root = Resolve-Path (Join-Path $PSScriptRoot '../..')
$tenant = if ($env:SERVERLESSOTLP_FIRST_TENANT_ID) { $env:SERVERLESSOTLP_FIRST_TENANT_ID } else { 'first' }
$account = $env:AZURE_STORAGE_ACCOUNT_NAME
$envName = if ($env:AZURE_ENV_NAME) { $env:AZURE_ENV_NAME } else { 'default' }
$keyFile = if ($env:SERVERLESSOTLP_FIRST_TENANT_KEY_FILE) { $env:SERVERLESSOTLP_FIRST_TENANT_KEY_FILE } else { Join-Path $root ".azure/$envName/first-tenant-key.txt" }
$interactive = -not [Console]::IsOutputRedirected -and -not $env:CI

if (-not $account) {
    Write-Error 'postprovision: AZURE_STORAGE_ACCOUNT_NAME is not set (run through azd, after provisioning).'
}

if ($env:SERVERLESSOTLP_FIRST_TENANT -eq 'created') {
    Write-Host "postprovision: tenant '$tenant' was created earlier; nothing to do."
    Write-Host "  New key:      dotnet run --project tools/otlpctl -- tenants rotate-key $tenant --storage-account $account"
    Write-Host "  More tenants: dotnet run --project tools/otlpctl -- tenants add ID --storage-account $account"
    Write-Host "  (both with ServerlessOtlp__Tenants__KeyPeppers__1 set to: azd env get-value SERVERLESSOTLP_KEY_PEPPER)"
    exit 0
}

# otlpctl digests the key with the gateway's pepper (preprovision put it in the azd environment).
if ($env:SERVERLESSOTLP_KEY_PEPPER) { $env:ServerlessOtlp__Tenants__KeyPeppers__1 = $env:SERVERLESSOTLP_KEY_PEPPER }

Write-Host 'postprovision: building otlpctl'
dotnet build (Join-Path $root 'tools/otlpctl') --nologo --verbosity quiet
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }

Write-Host ''
Write-Host '=================================================================================='
if ($interactive) {
    Write-Host " Creating tenant '$tenant'. Its API key is printed ONCE below: store it now"
} else {
    Write-Host " Creating tenant '$tenant'. Not a console (or CI): its API key goes to $keyFile, never to this log."
}
Write-Host " (only a hash is kept; 'otlpctl tenants rotate-key $tenant' issues a new one)."
Write-Host '=================================================================================='
$maxAttempts = 8
for ($attempt = 1; ; $attempt++) {
    if ($interactive) {
        dotnet run --no-build --project (Join-Path $root 'tools/otlpctl') -- tenants add $tenant --storage-account $account
    } else {
        New-Item -ItemType Directory -Force -Path (Split-Path $keyFile) | Out-Null
        dotnet run --no-build --project (Join-Path $root 'tools/otlpctl') -- tenants add $tenant --storage-account $account | Out-File -FilePath $keyFile -Encoding utf8
        if ($IsLinux -or $IsMacOS) { chmod 600 $keyFile }
    }
    if ($LASTEXITCODE -eq 0) { break }
    if ($attempt -ge $maxAttempts) {
        Write-Error "postprovision: could not create tenant '$tenant'. Once your role assignment is effective, run: dotnet run --project tools/otlpctl -- tenants add $tenant --storage-account $account"
    }
    Write-Warning "postprovision: attempt $attempt failed; waiting for role assignments to propagate (30 s)..."
    Start-Sleep -Seconds 30
}
if (-not $interactive) { Write-Host " The key is in $keyFile (its last line). Move it to your secret store and delete the file." }
Write-Host '=================================================================================='

azd env set SERVERLESSOTLP_FIRST_TENANT created | Out-Null

$endpoint = if ($env:GATEWAY_ENDPOINT) { $env:GATEWAY_ENDPOINT } else { 'https://<gateway fqdn>' }
Write-Host ''
Write-Host "Send OTLP to the gateway (after 'azd deploy' / the deploy step of 'azd up'):"
Write-Host "  `$env:OTEL_EXPORTER_OTLP_ENDPOINT = '$endpoint'"
Write-Host "  `$env:OTEL_EXPORTER_OTLP_HEADERS = 'x-api-key=<the key>'"
