#!/bin/sh
# azd postprovision hook: create the first tenant and print its API key once.
# Runs after every `azd provision` / `azd up`; creates the tenant only the first time
# (remembered in the azd environment as SERVERLESSOTLP_FIRST_TENANT=created).
# Needs the .NET SDK; uses your `az login` / `azd auth login` identity, which main.bicep
# granted Storage Table Data Contributor (shared keys are off on the account).
set -eu

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
TENANT="${SERVERLESSOTLP_FIRST_TENANT_ID:-first}"

if [ -z "${AZURE_STORAGE_ACCOUNT_NAME:-}" ]; then
  echo "postprovision: AZURE_STORAGE_ACCOUNT_NAME is not set (run through azd, after provisioning)." >&2
  exit 1
fi

if [ "${SERVERLESSOTLP_FIRST_TENANT:-}" = "created" ]; then
  echo "postprovision: tenant '$TENANT' was created earlier; nothing to do."
  echo "  New key:      dotnet run --project tools/otlpctl -- tenants rotate-key $TENANT --storage-account $AZURE_STORAGE_ACCOUNT_NAME"
  echo "  More tenants: dotnet run --project tools/otlpctl -- tenants add ID --storage-account $AZURE_STORAGE_ACCOUNT_NAME"
  exit 0
fi

echo "postprovision: building otlpctl"
dotnet build "$ROOT/tools/otlpctl" --nologo --verbosity quiet

echo
echo "=================================================================================="
echo " Creating tenant '$TENANT'. Its API key is printed ONCE below: store it now"
echo " (only a SHA-256 hash is kept; 'otlpctl tenants rotate-key $TENANT' issues a new one)."
echo "=================================================================================="
# New role assignments take a few minutes to reach the storage data plane: retry on failure.
attempt=1
max_attempts=8
until dotnet run --no-build --project "$ROOT/tools/otlpctl" -- \
    tenants add "$TENANT" --storage-account "$AZURE_STORAGE_ACCOUNT_NAME"; do
  if [ "$attempt" -ge "$max_attempts" ]; then
    echo "postprovision: could not create tenant '$TENANT' (see the error above). Once your role" >&2
    echo "assignment is effective, run: dotnet run --project tools/otlpctl -- tenants add $TENANT --storage-account $AZURE_STORAGE_ACCOUNT_NAME" >&2
    exit 1
  fi
  echo "postprovision: attempt $attempt failed; waiting for role assignments to propagate (30 s)..." >&2
  attempt=$((attempt + 1))
  sleep 30
done
echo "=================================================================================="

azd env set SERVERLESSOTLP_FIRST_TENANT created >/dev/null

cat <<MSG

Send OTLP to the gateway (after 'azd deploy' / the deploy step of 'azd up'):
  export OTEL_EXPORTER_OTLP_ENDPOINT=${GATEWAY_ENDPOINT:-https://<gateway fqdn>}
  export OTEL_EXPORTER_OTLP_HEADERS=x-api-key=<the key above>
MSG
