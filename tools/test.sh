#!/usr/bin/env bash
# The README's test command: installs what the tests need (Azurite and the Event Hubs JS SDK from
# npm, the Bicep CLI from NuGet, Prometheus from Debian when apt is available), publishes the gateway
# as Native AOT, builds, packs the client library and otlpctl, then runs every test in the solution,
# printing progress as it goes.
#
# A test that hangs is dumped and fails the run after SERVERLESSOTLP_HANG_TIMEOUT (default 5m), instead
# of waiting out CI's limit. The last line counts passed, failed and skipped tests; a test that needs
# something absent (e.g. a real Event Hub) is reported as skipped, never as passed.
set -euo pipefail
cd "$(dirname "$0")/.."
phase() { echo "== [${SECONDS}s] $*"; }

phase "tools: Azurite, @azure/event-hubs and @elastic/opamp-client-node (npm, pinned in package.json)"
if [ ! -x node_modules/.bin/azurite ] || [ ! -d node_modules/@azure/event-hubs ] || [ ! -d node_modules/@elastic/opamp-client-node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

phase "tools: Bicep CLI (NuGet) + compile and lint infra/bicep"
bash .ci/install-bicep.sh

if [ -x tools/install-prometheus.sh ]; then
  phase "tools: Prometheus (Debian)"
  bash tools/install-prometheus.sh
fi

phase "gateway: Native AOT publish (artifacts/gateway-aot; the tests run the native binary)"
bash tools/install-aot-prereqs.sh
dotnet publish gateway-container/ServerlessOtlp.Gateway -c Release -o artifacts/gateway-aot --nologo -v quiet

phase "functions: publish as azd deploy zips it (artifacts/functions-publish; the tests read the package)"
# Portable and without ReadyToRun: azd's publish adds native code for linux-x64 (the csproj; FunctionsPublishTests
# checks those settings by evaluation), which here would cost a second compile of the app and a crossgen pass (~1 min).
dotnet publish functions/ServerlessOtlp.Functions -c Release -o artifacts/functions-publish -p:PublishReadyToRun=false -p:RuntimeIdentifier= --nologo -v quiet

phase "build"
dotnet build ServerlessOtlp.sln -c Release --nologo -v quiet

phase "packages: the client library and otlpctl as a .NET tool (artifacts/packages; the tests install both)"
rm -rf artifacts/packages
dotnet pack shared/ServerlessOtlp.Client -c Release --no-build -o artifacts/packages --nologo -v quiet
dotnet pack tools/otlpctl -c Release --no-build -o artifacts/packages --nologo -v quiet

phase "tests"
log=$(mktemp)
set +e
# Per-test results at normal verbosity are what the progress below counts.
dotnet test ServerlessOtlp.sln -c Release --no-build --nologo \
    --blame-hang-timeout "${SERVERLESSOTLP_HANG_TIMEOUT:-5m}" --blame-hang-dump-type mini \
    --logger "console;verbosity=normal" 2>&1 \
  | tee "$log" \
  | awk -v start="$(date +%s)" '
      function progress() { printf "[%3ds] %d passed, %d failed, %d skipped\n", systime() - start, p, f, s; fflush() }
      /^[[:space:]]+Passed [A-Za-z]/ { p++; if ((p + f + s) % 50 == 0) progress(); next }
      /^[[:space:]]+Failed [A-Za-z]/ { f++; print "FAILED: " substr($0, index($0, "Failed ") + 7); fflush(); next }
      /^[[:space:]]+Skipped [A-Za-z]/ { s++; print "skipped: " substr($0, index($0, "Skipped ") + 8); fflush(); next }
      /The active test run was aborted|Blame: |hang/ { print; fflush() }
      END { progress() }'
status=${PIPESTATUS[0]}
set -e
# Per-assembly summaries, failures with their messages, then one total line.
grep -E "^\s*(Passed|Failed|Skipped)!|^Test Run |^Total tests:|^\s+(Passed|Failed|Skipped): [0-9]+$|^\s*Failed [A-Za-z]|error [A-Z]+[0-9]+" "$log" || true
if [ "$status" -ne 0 ]; then
  phase "full test output (failed)"; cat "$log"
fi
# Totals from each assembly's summary: "Passed!  - Failed: 0, Passed: N, …" (minimal verbosity) or the
# "Total tests: N" block with "     Passed: N" lines (normal verbosity, as run above).
awk '/(Passed|Failed)!/ { for (i = 1; i <= NF; i++) { v = $(i+1); gsub(",", "", v); if ($i == "Passed:") p += v; if ($i == "Failed:") f += v; if ($i == "Skipped:") s += v }; next }
     /^Total tests:/ { block = 1; next }
     block && /^[[:space:]]+(Passed|Failed|Skipped): [0-9]+$/ { if ($1 == "Passed:") p += $2; if ($1 == "Failed:") f += $2; if ($1 == "Skipped:") s += $2; next }
     { block = 0 }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
rm -f "$log"
exit "$status"
