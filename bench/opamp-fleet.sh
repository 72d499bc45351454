#!/usr/bin/env bash
# OpAMP at fleet scale (BENCHMARKS.md, "OpAMP: 10,000 agents on one gateway replica"; issue 19 item 6).
# One gateway replica (`otlpctl dev --role gateway --log memory`: OpAMP does not touch the log) on an
# in-memory Azurite holding the tenants and agents tables; bench/OpAmpFleet simulates the agents.
# Environment: AGENTS=10000 INTERVAL=30 (s between an agent's polls) WARMUP=60 MEASURE=240 (s)
#              GW_CPU=0 LOAD_CPU=1 (cores for the gateway / the load generator and Azurite, via taskset)
#              BENCH_OUT=DIR (default BenchmarkDotNet.Artifacts/opamp/<UTC time>)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
AGENTS="${AGENTS:-10000}"; INTERVAL="${INTERVAL:-30}"; WARMUP="${WARMUP:-60}"; MEASURE="${MEASURE:-240}"
GW_CPU="${GW_CPU:-0}"; LOAD_CPU="${LOAD_CPU:-1}"
out="${BENCH_OUT:-$repo/BenchmarkDotNet.Artifacts/opamp/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"

dotnet build tools/otlpctl -c Release --nologo -v quiet
dotnet build bench/OpAmpFleet -c Release --nologo -v quiet

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
blob=$(free_port); queue=$(free_port); table=$(free_port); http=$(free_port); grpc=$(free_port); mgmt=$(free_port)
cs="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:$blob/devstoreaccount1;QueueEndpoint=http://127.0.0.1:$queue/devstoreaccount1;TableEndpoint=http://127.0.0.1:$table/devstoreaccount1;"
key="fleet-$(date +%s%N)-key"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

taskset -c "$LOAD_CPU" node_modules/.bin/azurite --inMemoryPersistence --silent --skipApiVersionCheck --loose --disableTelemetry \
  --blobHost 127.0.0.1 --blobPort "$blob" --queueHost 127.0.0.1 --queuePort "$queue" --tableHost 127.0.0.1 --tablePort "$table" &
azurite=$!; pids+=("$azurite")

python3 - "$out/tenants.json" "$key" "$AGENTS" <<'PY'
import json, sys
body = open("examples/opamp-collector/collector.yaml").read()
doc = {"tenants": [{"id": "fleet", "apiKeys": [sys.argv[2]],
        "agents": {"maxAgents": int(sys.argv[3]) * 2, "configs": [
            {"name": "edge", "match": {"service.name": "edge-collector"}, "contentType": "text/yaml", "body": body}]}}]}
json.dump(doc, open(sys.argv[1], "w"))
PY

ServerlessOtlp__Gateway__OpAmp__MaxAgentsPerTenant=$((AGENTS * 2)) \
taskset -c "$GW_CPU" dotnet tools/otlpctl/bin/Release/net10.0/otlpctl.dll dev --role gateway --log memory --storage "$cs" \
  --tenants "$out/tenants.json" --data-dir "$out/data" --grpc-port "$grpc" --http-port "$http" --management-port "$mgmt" > "$out/gateway.log" 2>&1 &
gateway=$!; pids+=("$gateway")
for _ in $(seq 1 600); do curl -fsS "http://127.0.0.1:$http/readyz" >/dev/null 2>&1 && break; sleep 0.2; done

taskset -c "$LOAD_CPU" dotnet bench/OpAmpFleet/bin/Release/net10.0/OpAmpFleet.dll --endpoint "http://127.0.0.1:$http" --key "$key" \
  --agents "$AGENTS" --interval "$INTERVAL" --warmup "$WARMUP" --measure "$MEASURE" \
  --metrics "http://127.0.0.1:$mgmt/metrics" --pid "$gateway" --storage-pid "$azurite" --report "$out/opamp-fleet.json" | tee "$out/opamp-fleet.txt"
echo "report: $out/opamp-fleet.json"
