#!/usr/bin/env bash
# The README's test command: installs what the tests need (Azurite from npm, the Bicep CLI from
# NuGet, Prometheus from Debian when apt is available), publishes the gateway as Native AOT, then
# runs every test in the solution.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== tools: Azurite (npm, pinned in package.json)"
if [ ! -x node_modules/.bin/azurite ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

echo "== tools: Bicep CLI (NuGet) + compile and lint infra/bicep"
bash .ci/install-bicep.sh

if [ -x tools/install-prometheus.sh ]; then
  echo "== tools: Prometheus (Debian)"
  bash tools/install-prometheus.sh
fi

echo "== gateway: Native AOT publish (artifacts/gateway-aot; the tests run the native binary)"
bash tools/install-aot-prereqs.sh
dotnet publish gateway-container/ServerlessOtlp.Gateway -c Release -o artifacts/gateway-aot --nologo -v quiet

echo "== tests"
log=$(mktemp)
set +e
dotnet test ServerlessOtlp.sln -c Release > "$log" 2>&1
status=$?
set -e
# Per-assembly summaries, failures with their messages, then one total line.
grep -E "^\s*(Passed|Failed|Skipped)!|^\s*Failed [A-Za-z]|error [A-Z]+[0-9]+" "$log" || true
if [ "$status" -ne 0 ]; then
  echo "== full test output (failed)"; cat "$log"
fi
awk '/(Passed|Failed)!/ { for (i = 1; i <= NF; i++) { if ($i == "Passed:") p += $(i+1); if ($i == "Failed:") f += $(i+1); if ($i == "Skipped:") s += $(i+1) } }
     END { gsub(",", "", p); printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
rm -f "$log"
exit "$status"
