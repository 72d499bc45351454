#!/bin/sh
# azd preprovision hook, two jobs:
# 1. Tell main.bicep what kind of principal runs the deployment. azd sets AZURE_PRINCIPAL_ID but not
#    its type, and a role assignment whose principalType does not match fails (UnmatchedPrincipalType):
#    `azd up` as a service principal (CI) needs ServicePrincipal. An AZURE_PRINCIPAL_TYPE already in the
#    azd environment wins; otherwise the type is detected and stored.
# 2. Supply the API key pepper (SERVERLESSOTLP_KEY_PEPPER): the azd environment's value; else, once the
#    deployment has a Key Vault (AZURE_KEY_VAULT_NAME), the one stored there, so a new machine or a CI
#    runner never replaces it (that would invalidate every stored key); else, on the first deployment
#    only, 32 fresh random bytes.
set -eu

pepper() {
  if [ -n "${SERVERLESSOTLP_KEY_PEPPER:-}" ]; then
    echo "preprovision: key pepper from the azd environment"
    return 0
  fi
  if [ -n "${AZURE_KEY_VAULT_NAME:-}" ]; then
    if ! value=$(az keyvault secret show --vault-name "$AZURE_KEY_VAULT_NAME" --name key-pepper-1 --query value --output tsv) || [ -z "$value" ]; then
      echo "preprovision: this deployment has Key Vault $AZURE_KEY_VAULT_NAME but its key-pepper-1 could not be read." >&2
      echo "  A new pepper would invalidate every API key, so none is generated. Sign in with 'az login' as an" >&2
      echo "  identity with Key Vault Secrets Officer/User on the vault, or set SERVERLESSOTLP_KEY_PEPPER." >&2
      return 1
    fi
    azd env set SERVERLESSOTLP_KEY_PEPPER "$value"
    echo "preprovision: key pepper read from Key Vault $AZURE_KEY_VAULT_NAME"
    return 0
  fi
  azd env set SERVERLESSOTLP_KEY_PEPPER "$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
  echo "preprovision: generated the key pepper (first deployment; kept in Key Vault as key-pepper-1)"
}

pepper

if [ -n "${AZURE_PRINCIPAL_TYPE:-}" ]; then
  echo "preprovision: AZURE_PRINCIPAL_TYPE=$AZURE_PRINCIPAL_TYPE (from the azd environment)"
  exit 0
fi

type=""
# The Azure CLI knows who is logged in, when azd delegates to it (`azd config set auth.useAzCliAuth true`).
if command -v az >/dev/null 2>&1; then
  case "$(az account show --query user.type --output tsv 2>/dev/null || true)" in
    servicePrincipal) type=ServicePrincipal ;;
    user) type=User ;;
  esac
fi

# azd's own login as a service principal or a federated workload identity (CI pipelines).
if [ -z "$type" ]; then
  if [ -n "${AZURE_CLIENT_ID:-}${ARM_CLIENT_ID:-}${AZURE_FEDERATED_TOKEN_FILE:-}" ] \
     || [ -n "${CI:-}${GITHUB_ACTIONS:-}${TF_BUILD:-}" ]; then
    type=ServicePrincipal
  else
    type=User
  fi
fi

azd env set AZURE_PRINCIPAL_TYPE "$type"
echo "preprovision: AZURE_PRINCIPAL_TYPE=$type (set AZURE_PRINCIPAL_TYPE in the azd environment to choose)"
