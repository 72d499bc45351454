#!/bin/sh
# azd preprovision hook: tell main.bicep what kind of principal runs the deployment.
# azd sets AZURE_PRINCIPAL_ID but not its type, and a role assignment whose principalType does not
# match fails (UnmatchedPrincipalType): `azd up` as a service principal (CI) needs ServicePrincipal.
# An AZURE_PRINCIPAL_TYPE already in the azd environment wins; otherwise the type is detected and stored.
set -eu

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
