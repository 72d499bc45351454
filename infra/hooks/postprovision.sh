#!/bin/sh
# azd postprovision hook: create the first tenant and hand its API key over once.
# Runs after every `azd provision` / `azd up`; creates the tenant only the first time
# (remembered in the azd environment as SERVERLESSOTLP_FIRST_TENANT=created).
# The key is printed only on an interactive terminal outside CI; otherwise (a pipeline, whose
# logs others read) it is written to a file only its owner can read, and the log says where:
# SERVERLESSOTLP_FIRST_TENANT_KEY_FILE, default .azure/<environment>/first-tenant-key.txt.
# Needs the .NET SDK; uses your `az login` / `azd auth login` identity, which main.bicep
# granted Storage Table Data Contributor (shared keys are off on the account).
set -eu

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
TENANT="${SERVERLESSOTLP_FIRST_TENANT_ID:-first}"
KEY_FILE="${SERVERLESSOTLP_FIRST_TENANT_KEY_FILE:-$ROOT/.azure/${AZURE_ENV_NAME:-default}/first-tenant-key.txt}"
if [ -t 1 ] && [ -z "${CI:-}" ]; then INTERACTIVE=1; else INTERACTIVE=0; fi

if [ -z "${AZURE_STORAGE_ACCOUNT_NAME:-}" ]; then
  echo "postprovision: AZURE_STORAGE_ACCOUNT_NAME is not set (run through azd, after provisioning)." >&2
  exit 1
fi

if [ "${SERVERLESSOTLP_FIRST_TENANT:-}" = "created" ]; then
  echo "postprovision: tenant '$TENANT' was created earlier; nothing to do."
  echo "  New key:      dotnet run --project tools/otlpctl -- tenants rotate-key $TENANT --storage-account $AZURE_STORAGE_ACCOUNT_NAME"
  echo "  More tenants: dotnet run --project tools/otlpctl -- tenants add ID --storage-account $AZURE_STORAGE_ACCOUNT_NAME"
  echo "  (both with ServerlessOtlp__Tenants__KeyPeppers__1=\$(azd env get-value SERVERLESSOTLP_KEY_PEPPER))"
  exit 0
fi

# otlpctl digests the key with the gateway's pepper (preprovision put it in the azd environment).
if [ -n "${SERVERLESSOTLP_KEY_PEPPER:-}" ]; then
  export ServerlessOtlp__Tenants__KeyPeppers__1="$SERVERLESSOTLP_KEY_PEPPER"
fi

echo "postprovision: building otlpctl"
dotnet build "$ROOT/tools/otlpctl" --nologo --verbosity quiet

echo
echo "=================================================================================="
if [ "$INTERACTIVE" = 1 ]; then
  echo " Creating tenant '$TENANT'. Its API key is printed ONCE below: store it now"
else
  echo " Creating tenant '$TENANT'. Not a terminal (or CI): its API key goes to $KEY_FILE"
  echo " (readable by you only), never to this log."
fi
echo " (only a hash is kept; 'otlpctl tenants rotate-key $TENANT' issues a new one)."
echo "=================================================================================="
# New role assignments take a few minutes to reach the storage data plane: retry on failure.
add_tenant() {
  if [ "$INTERACTIVE" = 1 ]; then
    dotnet run --no-build --project "$ROOT/tools/otlpctl" -- tenants add "$TENANT" --storage-account "$AZURE_STORAGE_ACCOUNT_NAME"
  else
    mkdir -p "$(dirname "$KEY_FILE")"
    (umask 077 && dotnet run --no-build --project "$ROOT/tools/otlpctl" -- \
      tenants add "$TENANT" --storage-account "$AZURE_STORAGE_ACCOUNT_NAME" > "$KEY_FILE")
  fi
}
attempt=1
max_attempts=${SERVERLESSOTLP_FIRST_TENANT_ATTEMPTS:-8}
until add_tenant; do
  if [ "$attempt" -ge "$max_attempts" ]; then
    echo "postprovision: could not create tenant '$TENANT' (see the error above). Once your role" >&2
    echo "assignment is effective, run: dotnet run --project tools/otlpctl -- tenants add $TENANT --storage-account $AZURE_STORAGE_ACCOUNT_NAME" >&2
    exit 1
  fi
  echo "postprovision: attempt $attempt failed; waiting for role assignments to propagate (30 s)..." >&2
  attempt=$((attempt + 1))
  sleep 30
done
if [ "$INTERACTIVE" = 0 ]; then
  echo " The key is in $KEY_FILE (its last line). Move it to your secret store and delete the file."
fi
echo "=================================================================================="

azd env set SERVERLESSOTLP_FIRST_TENANT created >/dev/null

cat <<MSG

Send OTLP to the gateway (after 'azd deploy' / the deploy step of 'azd up'):
  export OTEL_EXPORTER_OTLP_ENDPOINT=${GATEWAY_ENDPOINT:-https://<gateway fqdn>}
  export OTEL_EXPORTER_OTLP_HEADERS=x-api-key=<the key>
MSG
