#!/usr/bin/env bash
# Gateway and end-to-end figures of BENCHMARKS.md (issue #8). Usage:
#   bench/gateway.sh [throughput] [steady] [overload] [e2e] [latency] [coldstart] [cost]
#                       (no argument: the first four, in that order; latency is issue 18's delivery latency,
#                       pushed drains vs the runner's dispatch, same run: LATENCY_SECONDS_IDLE=8 between
#                       the after-idle probes, LATENCY_IDLE_COUNT=12, LATENCY_LIGHT_COUNT=40 at 2/s,
#                       LATENCY_MODES="push dispatch", LATENCY_LOG=blob (or memory))
#                       coldstart (issue 18 item 5): a fresh runner process draining a backlog, the JIT build
#                       beside a ReadyToRun publish, COLD_REPEAT=2 times each, COLD_SECONDS=15 of load at
#                       STEADY_RATE make the backlog (COLD_SPANS_PER_REQUEST=100, COLD_BUILDS="jit r2r");
#                       time to first export, spans in the first 10 s, peak RSS and the drains' memory budget high-water mark
#                       cost (issue 18 item 3): STEADY_RATE spans/s for COST_SECONDS=60 through gateway and
#                       runner on the Event Hubs log (tests/ServerlessOtlp.EventHubsEmulator), billable
#                       operations counted by the process (storage transactions per service, ingress units)
# Environment:
#   REPEAT=2            throughput runs per system (ours and the baseline alternate)
#   STEADY_SECONDS=60   length of the steady 10k spans/s run (per system)
#   STEADY_RATE=10000   spans/s of the steady run
#   E2E_RATE=5000       spans/s of the end-to-end background load; E2E_SECONDS=30
#   GW_CPU=0 LOAD_CPU=1 cores for the system under test / the load generator (taskset)
#   WARMUP_SECONDS=20   length of each warm-up run (not reported); IDLE_SECONDS=20 the idle measurement
#   GW_OTLPCTL=DLL      otlpctl.dll that hosts the gateway (default: the one built here), e.g. a copy
#                       built from an earlier commit, to measure before/after in the same conditions
#   GW_ENV="K=V ..."    environment of the gateway processes; default: the gateway container's runtime
#                       settings (gateway-container/Dockerfile: gen0size 4 MiB, no pool spinning) and
#                       no TieredPGO (the project's setting, for JIT builds); GW_ENV= (empty): runtime defaults
#   STEADY_CONTAINER=1  steady: also run the gateway container's program, as the container runs it
#                       (Native AOT) and as a JIT build (0: only otlpctl dev and the sink)
#   GW_ARGS="..."       extra `otlpctl dev` arguments for the gateway (e.g. --flush-delay 1ms)
#   OVERLOAD_LOG_BPS=1048576   overload: the memory log's ingress per partition (bytes/s; 8 partitions)
#   OVERLOAD_BUDGET=2097152    overload: the gateway's in-flight budget (bytes)
#   OVERLOAD_SECONDS=20 RECOVERY_SECONDS=20
#   BENCH_OUT=DIR       where the JSON reports and summary.md go
#                       (default BenchmarkDotNet.Artifacts/gateway/<UTC time>)
#
# What runs where: the system under test (`otlpctl dev`, or the baseline sink) on core GW_CPU;
# `otlpctl load`, the end-to-end probe and Azurite (in-memory, random ports: it holds the tenant
# table, and in the end-to-end run the blob log) on core LOAD_CPU.
# Baseline: bench/BaselineOtlpSink, a grpc-dotnet server that parses every export with
# Google.Protobuf and drops it (the OpenTelemetry Collector is not available on this machine).
# The whole run (build and measurements) holds /tmp/serverlessotlp-build.lock, so that no build
# of another checkout on the same machine runs during a measurement (set BENCH_LOCK= to skip).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

REPEAT="${REPEAT:-2}"
STEADY_SECONDS="${STEADY_SECONDS:-60}"
STEADY_RATE="${STEADY_RATE:-10000}"
E2E_RATE="${E2E_RATE:-5000}"
E2E_SECONDS="${E2E_SECONDS:-30}"
GW_CPU="${GW_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"
WARMUP_SECONDS="${WARMUP_SECONDS:-20}"
IDLE_SECONDS="${IDLE_SECONDS:-20}"
OVERLOAD_LOG_BPS="${OVERLOAD_LOG_BPS:-1048576}"
OVERLOAD_BUDGET="${OVERLOAD_BUDGET:-2097152}"
OVERLOAD_SECONDS="${OVERLOAD_SECONDS:-20}"
RECOVERY_SECONDS="${RECOVERY_SECONDS:-20}"
container_env="DOTNET_GCgen0size=0x400000 DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0 DOTNET_TieredPGO=0"
GW_ENV="${GW_ENV-$container_env}"
read -r -a gw_env <<<"$GW_ENV"
read -r -a gw_args <<<"${GW_ARGS:-}"
BENCH_LOCK="${BENCH_LOCK-/tmp/serverlessotlp-build.lock}"
out="${BENCH_OUT:-$repo/BenchmarkDotNet.Artifacts/gateway/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

scenarios=("$@")
if [[ ${#scenarios[@]} -eq 0 ]]; then
  scenarios=(throughput steady overload e2e)
fi
want() { local s; for s in "${scenarios[@]}"; do [[ "$s" == "$1" ]] && return 0; done; return 1; }
for s in "${scenarios[@]}"; do
  case "$s" in throughput|steady|overload|e2e|latency|coldstart|cost) ;; *) echo "unknown scenario $s (throughput, steady, overload, e2e, latency, coldstart, cost)" >&2; exit 2 ;; esac
done

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

if [[ -n "$BENCH_LOCK" ]] && command -v flock >/dev/null 2>&1; then
  exec 9>"$BENCH_LOCK"
  log "waiting for $BENCH_LOCK"
  flock 9
fi

# Command prefixes that pin to a core (empty without taskset). Used directly, not through a shell
# function, so that `$!` of a background start is the pid of the measured process itself.
gw_pin=(); load_pin=()
if command -v taskset >/dev/null 2>&1; then
  gw_pin=(taskset -c "$GW_CPU"); load_pin=(taskset -c "$LOAD_CPU")
else
  echo "taskset not found: running unpinned" >&2
fi

# ---------------------------------------------------------------- build (once, under the shared lock)
build() {
  local p
  for p in tools/otlpctl bench/BaselineOtlpSink bench/E2eLatencyProbe gateway-container/ServerlessOtlp.Gateway; do
    dotnet build -c Release "$p" -nologo -v quiet
  done
  # The container's binary: Native AOT, as the Dockerfile publishes it.
  dotnet publish -c Release gateway-container/ServerlessOtlp.Gateway -o "$repo/artifacts/gateway-aot" -nologo -v quiet
  if want coldstart; then
    # The same program precompiled, as the Functions app is published (ReadyToRun needs a runtime
    # identifier; otlpctl references the gateway, whose RID build is self-contained Native AOT).
    dotnet publish -c Release tools/otlpctl -r linux-x64 --self-contained false -p:PublishReadyToRun=true \
      -p:ValidateExecutableReferencesMatchSelfContained=false -o "$repo/artifacts/otlpctl-r2r" -nologo -v quiet
  fi
  if want cost; then
    dotnet build -c Release tests/ServerlessOtlp.EventHubsEmulator -nologo -v quiet
  fi
}
log "building otlpctl, the baseline sink, the probe and the gateway (JIT build and Native AOT publish)"
build
otlpctl=(dotnet "$repo/tools/otlpctl/bin/Release/net10.0/otlpctl.dll")
gw_otlpctl=(dotnet "${GW_OTLPCTL:-$repo/tools/otlpctl/bin/Release/net10.0/otlpctl.dll}")
sink=(dotnet "$repo/bench/BaselineOtlpSink/bin/Release/net10.0/BaselineOtlpSink.dll")
probe=(dotnet "$repo/bench/E2eLatencyProbe/bin/Release/net10.0/E2eLatencyProbe.dll")

# ---------------------------------------------------------------- processes and cleanup
work="$(mktemp -d /tmp/serverlessotlp-gwbench.XXXXXX)"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_pid() { # stop one process we started, and forget it
  local p="$1" keep=() q
  kill "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  for q in "${pids[@]}"; do [[ "$q" != "$p" ]] && keep+=("$q"); done
  pids=("${keep[@]}")
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_port() { # wait_port PORT PID SECONDS
  local port="$1" pid="$2" deadline=$((SECONDS + $3))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { log "process $pid exited before listening on $port"; return 1; }
    ((SECONDS < deadline)) || { log "nothing listens on $port after $3 s"; return 1; }
    sleep 0.2
  done
}

# /proc accounting: CPU ticks (utime + stime) and resident memory of one process.
clk_tck="$(getconf CLK_TCK)"
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
thread_ticks() { # "tid name ticks" per thread, sorted by tid (for join)
  local t
  for t in /proc/"$1"/task/*; do
    printf '%s %s %s\n' "${t##*/}" "$(tr ' ' '_' <"$t/comm")" "$(sed 's/^.*) //' "$t/stat" | awk '{print $12 + $13}')"
  done 2>/dev/null | sort -k1,1
}

# measure PID NAME CMD... : runs CMD while sampling PID's RSS every second; writes NAME.proc.json
# with the CPU the process used over CMD's wall time (% of one core) and its peak/last RSS (MiB).
measure() {
  local pid="$1" name="$2"; shift 2
  local samples="$work/$name.rss"
  : >"$samples"
  ( while kill -0 "$pid" 2>/dev/null; do rss_kib "$pid" >>"$samples" 2>/dev/null || true; sleep 1; done ) &
  local sampler=$!
  local t0 c0 t1 c1 status=0
  thread_ticks "$pid" >"$work/$name.threads0"
  t0="$(date +%s.%N)"; c0="$(cpu_ticks "$pid")"
  "$@" || status=$?
  t1="$(date +%s.%N)"; c1="$(cpu_ticks "$pid")"
  thread_ticks "$pid" >"$work/$name.threads1"
  # CPU seconds by thread name (.NET names its threads: TP Worker, Sockets, Tiered Compilation, …).
  join "$work/$name.threads0" "$work/$name.threads1" 2>/dev/null \
    | awk -v hz="$clk_tck" '{ d[$2] += $5 - $3 } END { for (k in d) if (d[k] > 0) printf "%8.2f s  %s\n", d[k] / hz, k }' \
    | sort -rn >"$out/$name.threads.txt" || true
  rss_kib "$pid" >>"$samples"
  kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
  awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$clk_tck" '
    { if ($1 > max) max = $1; last = $1; n++ }
    END { wall = t1 - t0; cpu = (c1 - c0) / hz;
          printf "{\"wallSeconds\": %.2f, \"cpuSeconds\": %.2f, \"cpuPercentOfCore\": %.2f, \"rssMaxMiB\": %.1f, \"rssLastMiB\": %.1f, \"rssSamples\": %d}\n",
                 wall, cpu, 100 * cpu / wall, max / 1024, last / 1024, n }' "$samples" >"$out/$name.proc.json"
  log "$name: $(cat "$out/$name.proc.json")"
  return "$status"
}

load() { # load NAME PORT KEY ARGS... : otlpctl load on LOAD_CPU, report NAME.load.json
  local name="$1" port="$2" key="$3"; shift 3
  "${load_pin[@]}" "${otlpctl[@]}" load --endpoint "http://127.0.0.1:$port" --key "$key" --report "$out/$name.load.json" "$@" \
    >"$out/$name.load.txt" 2>&1 || { log "load $name failed:"; tail -20 "$out/$name.load.txt" >&2; return 1; }
  log "$name: $(jq -c '{accepted, itemsPerSecond, refused, latencyMs}' "$out/$name.load.json")"
}

# ---------------------------------------------------------------- Azurite (tenants; the blob log in e2e)
azurite_bin="$repo/node_modules/.bin/azurite"
[[ -x "$azurite_bin" ]] || (cd "$repo" && npm ci --no-audit --no-fund >/dev/null)
blob_port="$(free_port)"; queue_port="$(free_port)"; table_port="$(free_port)"
"${load_pin[@]}" "$azurite_bin" --inMemoryPersistence --skipApiVersionCheck --loose --silent \
  --blobHost 127.0.0.1 --blobPort "$blob_port" --queueHost 127.0.0.1 --queuePort "$queue_port" \
  --tableHost 127.0.0.1 --tablePort "$table_port" >"$work/azurite.log" 2>&1 &
azurite_pid=$!; pids+=("$azurite_pid")
for p in "$blob_port" "$queue_port" "$table_port"; do wait_port "$p" "$azurite_pid" 60; done
account_key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
storage="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$account_key;BlobEndpoint=http://127.0.0.1:$blob_port/devstoreaccount1;QueueEndpoint=http://127.0.0.1:$queue_port/devstoreaccount1;TableEndpoint=http://127.0.0.1:$table_port/devstoreaccount1"
log "Azurite (in memory) on 127.0.0.1:$blob_port/$queue_port/$table_port, core $LOAD_CPU"

# ---------------------------------------------------------------- the gateway (otlpctl dev) and the baseline sink
data_dir="$work/data" # one data dir: tenant dev's file destination is fixed when the tenant is created
key=""
gw_pid=""; gw_port=""; gw_mgmt_port=""
start_dev() { # start_dev NAME ARGS... (--role/--log): sets gw_pid, gw_port; key on first start
  local name="$1"; shift
  gw_port="$(free_port)"
  local http_port; http_port="$(free_port)"; gw_mgmt_port="$(free_port)"
  env "${gw_env[@]}" "${gw_pin[@]}" "${gw_otlpctl[@]}" dev --storage "$storage" --data-dir "$data_dir" \
    --grpc-port "$gw_port" --http-port "$http_port" --management-port "$gw_mgmt_port" "${gw_args[@]}" "$@" >"$out/$name.dev.txt" 2>&1 &
  gw_pid=$!; pids+=("$gw_pid")
  local deadline=$((SECONDS + 180))
  until grep -q '^Ready\.' "$out/$name.dev.txt" 2>/dev/null; do
    kill -0 "$gw_pid" 2>/dev/null || { log "otlpctl dev exited:"; cat "$out/$name.dev.txt" >&2; return 1; }
    ((SECONDS < deadline)) || { log "otlpctl dev not ready after 180 s"; return 1; }
    sleep 0.5
  done
  if [[ -z "$key" ]]; then
    key="$(grep -A1 '^Created tenant dev' "$out/$name.dev.txt" | tail -1 | tr -d '[:space:]')"
    [[ -n "$key" ]] || { log "no key for tenant dev in $out/$name.dev.txt"; return 1; }
  fi
  log "otlpctl dev $* (pid $gw_pid, core $GW_CPU) on 127.0.0.1:$gw_port"
}

sink_pid=""; sink_port=""
start_sink() {
  sink_port="$(free_port)"
  "${gw_pin[@]}" "${sink[@]}" "$sink_port" >"$out/baseline-sink.txt" 2>&1 &
  sink_pid=$!; pids+=("$sink_pid")
  wait_port "$sink_port" "$sink_pid" 60
  log "baseline sink (pid $sink_pid, core $GW_CPU) on 127.0.0.1:$sink_port"
}

machine="$(nproc) cores, $(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1), dotnet $(dotnet --version)"
{
  echo "# Gateway benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "machine: $machine; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "system under test on core $GW_CPU, load generator + Azurite on core $LOAD_CPU; scenarios: ${scenarios[*]}"
  echo "gateway host: ${gw_otlpctl[*]}${GW_ENV:+; gateway environment: $GW_ENV}${GW_ARGS:+; gateway arguments: $GW_ARGS}"
  echo
} >"$out/summary.md"
log "machine: $machine; results in $out"

if want throughput || want steady; then
  start_dev gateway-memory --role gateway --log memory
  start_sink
  # Warm-up (JIT tiers, pools, connections), not reported.
  load warmup-ours "$gw_port" "$key" --duration "${WARMUP_SECONDS}s" --spans-per-request 100 --connections 8
  load warmup-baseline "$sink_port" "$key" --duration "${WARMUP_SECONDS}s" --spans-per-request 100 --connections 8
  load warmup-steady-ours "$gw_port" "$key" --rate "$STEADY_RATE" --duration "${WARMUP_SECONDS}s" --spans-per-request 100 --connections 8
  load warmup-steady-baseline "$sink_port" "$key" --rate "$STEADY_RATE" --duration "${WARMUP_SECONDS}s" --spans-per-request 100 --connections 8

  # Idle cost: what each process spends with no load at all (timers, heartbeats, the live line).
  measure "$gw_pid" idle-ours sleep "$IDLE_SECONDS"
  measure "$sink_pid" idle-baseline sleep "$IDLE_SECONDS"
fi

if want throughput; then
  echo "## Max throughput (100 spans/request, 8 connections x 4 in flight unless stated, 20 s, no rate limit)" >>"$out/summary.md"
  echo >>"$out/summary.md"
  echo "| run | system | spans/s accepted | p50 ms | p99 ms | refused | server CPU % of core | spans per server CPU-second | server RSS max MiB |" >>"$out/summary.md"
  echo "|---|---|---|---|---|---|---|---|---|" >>"$out/summary.md"
  for ((r = 1; r <= REPEAT; r++)); do
    for sys in ours baseline; do
      if [[ "$sys" == ours ]]; then pid="$gw_pid"; port="$gw_port"; else pid="$sink_pid"; port="$sink_port"; fi
      measure "$pid" "throughput-$sys-$r" load "throughput-$sys-$r" "$port" "$key" --spans-per-request 100 --connections 8 --duration 20s
      jq -r --arg r "$r" --arg s "$sys" --slurpfile p "$out/throughput-$sys-$r.proc.json" \
        '"| \($r) | \($s) | \(.itemsPerSecond|floor) | \(.latencyMs.p50) | \(.latencyMs.p99) | \(.refused|tostring) | \($p[0].cpuPercentOfCore) | \(if $p[0].cpuSeconds > 0 then (.accepted / $p[0].cpuSeconds | floor) else "?" end) | \($p[0].rssMaxMiB) |"' \
        "$out/throughput-$sys-$r.load.json" >>"$out/summary.md"
    done
  done
  # More in flight (32 connections x 4): whether the client or the server is the limit at 8 x 4.
  for sys in ours baseline; do
    if [[ "$sys" == ours ]]; then pid="$gw_pid"; port="$gw_port"; else pid="$sink_pid"; port="$sink_port"; fi
    measure "$pid" "throughput32-$sys" load "throughput32-$sys" "$port" "$key" --spans-per-request 100 --connections 32 --duration 20s
    jq -r --arg s "$sys" --slurpfile p "$out/throughput32-$sys.proc.json" \
      '"| 32 conn | \($s) | \(.itemsPerSecond|floor) | \(.latencyMs.p50) | \(.latencyMs.p99) | \(.refused|tostring) | \($p[0].cpuPercentOfCore) | \(if $p[0].cpuSeconds > 0 then (.accepted / $p[0].cpuSeconds | floor) else "?" end) | \($p[0].rssMaxMiB) |"' \
      "$out/throughput32-$sys.load.json" >>"$out/summary.md"
  done
  echo >>"$out/summary.md"
fi

steady_container() { # steady_container NAME LABEL CMD... : the gateway container's own program
  # (gateway-container, Program.cs) on the same memory log and Azurite tenant table: the product
  # without otlpctl's runner, Spectre.Console and live line. Steady, idle, then one full-speed run.
  local name="$1" label="$2"; shift 2
  ct_port="$(free_port)"; ct_http="$(free_port)"; ct_mgmt="$(free_port)"
  (cd "$work" && exec env "${gw_env[@]}" DOTNET_gcServer=0 ServerlessOtlp__Gateway__BindAddress=127.0.0.1 \
    ServerlessOtlp__Gateway__GrpcPort="$ct_port" ServerlessOtlp__Gateway__HttpPort="$ct_http" ServerlessOtlp__Gateway__ManagementPort="$ct_mgmt" \
    ServerlessOtlp__Storage__ConnectionString="$storage" ServerlessOtlp__Log__Kind=memory Logging__LogLevel__Default=Warning \
    "${gw_pin[@]}" "$@") >"$out/$name.txt" 2>&1 &
  ct_pid=$!; pids+=("$ct_pid")
  wait_port "$ct_port" "$ct_pid" 60 || return 1
  log "gateway container program, $label (pid $ct_pid, core $GW_CPU) on 127.0.0.1:$ct_port"
  measure "$ct_pid" "first-$name" load "first-$name" "$ct_port" "$key" --duration "${WARMUP_SECONDS}s" --spans-per-request 100 --connections 8 || return 1
  load "warmup-steady-$name" "$ct_port" "$key" --rate "$STEADY_RATE" --duration "${WARMUP_SECONDS}s" --spans-per-request 100 --connections 8 || return 1
  measure "$ct_pid" "idle-$name" sleep "$IDLE_SECONDS" || return 1
  measure "$ct_pid" "steady-$name" load "steady-$name" "$ct_port" "$key" --rate "$STEADY_RATE" --duration "${STEADY_SECONDS}s" --spans-per-request 100 --connections 8 || return 1
  measure "$ct_pid" "throughput-$name" load "throughput-$name" "$ct_port" "$key" --spans-per-request 100 --connections 8 --duration 20s || return 1
  jq -r --arg l "$label" --slurpfile p "$out/steady-$name.proc.json" --slurpfile i "$out/idle-$name.proc.json" \
    '"| ours, container program, \($l) | \(.itemsPerSecond|floor) | \(.latencyMs.p50) | \(.latencyMs.p99) | \($p[0].cpuPercentOfCore) | \($p[0].rssMaxMiB) | \($i[0].cpuPercentOfCore) | \($i[0].rssLastMiB) |"' \
    "$out/steady-$name.load.json" >>"$out/summary.md"
  # Full speed, for the table after this one: the first 20 s after start (no warm-up) and after the steady run.
  for run in first throughput; do
    jq -r --arg l "$label" --arg r "$run" --slurpfile p "$out/$run-$name.proc.json" \
      '"| \($l) | \(if $r == "first" then "first 20 s after start" else "after warm-up" end) | \(.itemsPerSecond|floor) | \(.latencyMs.p50) | \(.latencyMs.p99) | \($p[0].cpuPercentOfCore) | \($p[0].rssMaxMiB) |"' \
      "$out/$run-$name.load.json" >>"$work/container-throughput.md"
  done
  stop_pid "$ct_pid"
}

if want steady; then
  echo "## Steady ${STEADY_RATE} spans/s for ${STEADY_SECONDS} s (100 spans/request)" >>"$out/summary.md"
  echo >>"$out/summary.md"
  echo "| system | spans/s accepted | p50 ms | p99 ms | server CPU % of core | server RSS max MiB | idle CPU % (${IDLE_SECONDS} s, no load) | idle RSS MiB |" >>"$out/summary.md"
  echo "|---|---|---|---|---|---|---|---|" >>"$out/summary.md"
  for sys in ours baseline; do
    if [[ "$sys" == ours ]]; then pid="$gw_pid"; port="$gw_port"; else pid="$sink_pid"; port="$sink_port"; fi
    measure "$pid" "steady-$sys" load "steady-$sys" "$port" "$key" --rate "$STEADY_RATE" --duration "${STEADY_SECONDS}s" --spans-per-request 100 --connections 8
    jq -r --arg s "$sys" --slurpfile p "$out/steady-$sys.proc.json" --slurpfile i "$out/idle-$sys.proc.json" \
      '"| \($s) | \(.itemsPerSecond|floor) | \(.latencyMs.p50) | \(.latencyMs.p99) | \($p[0].cpuPercentOfCore) | \($p[0].rssMaxMiB) | \($i[0].cpuPercentOfCore) | \($i[0].rssLastMiB) |"' \
      "$out/steady-$sys.load.json" >>"$out/summary.md"
  done
  if [[ -z "${GW_OTLPCTL:-}" && "${STEADY_CONTAINER:-1}" == 1 ]]; then
    : >"$work/container-throughput.md"
    steady_container container-aot "Native AOT" "$repo/artifacts/gateway-aot/ServerlessOtlp.Gateway" \
      || { log "the Native AOT container program run failed (see $out/container-aot.txt)"; [[ -z "${ct_pid:-}" ]] || stop_pid "$ct_pid"; }
    steady_container container-jit "JIT" dotnet "$repo/gateway-container/ServerlessOtlp.Gateway/bin/Release/net10.0/ServerlessOtlp.Gateway.dll" \
      || { log "the JIT container program run failed (see $out/container-jit.txt)"; [[ -z "${ct_pid:-}" ]] || stop_pid "$ct_pid"; }
    {
      echo
      echo "### The container program at full speed (100 spans/request, 8 connections x 4 in flight, 20 s)"
      echo
      echo "| build | when | spans/s accepted | p50 ms | p99 ms | server CPU % of core | server RSS max MiB |"
      echo "|---|---|---|---|---|---|---|"
      cat "$work/container-throughput.md"
    } >>"$out/summary.md"
  fi
  echo >>"$out/summary.md"
fi

# Sum of a Prometheus counter (all label sets) on the gateway's management port.
metric_sum() { # metric_sum NAME [LABEL_FILTER]
  curl -fsS "http://127.0.0.1:$gw_mgmt_port/metrics" | awk -v n="$1" -v f="${2:-}" '
    $1 ~ "^" n "(_total)?([{]|$)" && (f == "" || index($1, f) > 0) { s += $NF } END { printf "%d\n", s }'
}

if want overload; then
  # A gateway whose log takes OVERLOAD_LOG_BPS per partition (the memory log throttled, like a log
  # with provisioned ingress) and whose in-flight budget is OVERLOAD_BUDGET bytes. Its capacity is
  # measured first (closed loop); then 2x that is offered from 64 connections x 4 in flight, then
  # the load drops to half the capacity and the per-second timeline tells when refusals stop.
  if [[ -n "$gw_pid" ]]; then stop_pid "$gw_pid"; gw_pid=""; fi
  start_dev overload --role gateway --log memory --memory-log-bytes-per-second "$OVERLOAD_LOG_BPS" \
    --in-flight-budget "$OVERLOAD_BUDGET" --flush-delay 2ms
  load overload-warmup "$gw_port" "$key" --duration "${WARMUP_SECONDS}s" --spans-per-request 100 --connections 8
  measure "$gw_pid" overload-capacity load overload-capacity "$gw_port" "$key" --duration 15s --spans-per-request 100 --connections 8
  capacity="$(jq '.itemsPerSecond | floor' "$out/overload-capacity.load.json")"
  rate=$((2 * capacity)); low=$((capacity / 2))
  measure "$gw_pid" overload load overload "$gw_port" "$key" --rate "$rate" --duration "${OVERLOAD_SECONDS}s" --spans-per-request 100 --connections 64
  measure "$gw_pid" recovery load recovery "$gw_port" "$key" --rate "$low" --duration "${RECOVERY_SECONDS}s" --spans-per-request 100 --connections 8 \
    --timeline "$out/recovery.timeline.json"
  sleep 1
  appended="$(metric_sum otlp_gateway_items_appended)"
  refused_overloaded="$(metric_sum otlp_gateway_items_refused 'reason="overloaded"')"
  acked="$(jq -s 'map(.accepted) | add' "$out"/overload-warmup.load.json "$out"/overload-capacity.load.json "$out"/overload.load.json "$out"/recovery.load.json)"
  # Recovery time: from the drop in load to the start of the first second after which nothing was refused.
  recovery="$(jq '[.[] | select(.refused > 0) | .second] | if length == 0 then 0 else max + 1 end' "$out/recovery.timeline.json")"
  {
    echo "## Overload: log ingress $OVERLOAD_LOG_BPS B/s per partition, in-flight budget $OVERLOAD_BUDGET B; capacity ${capacity} spans/s measured, then ${rate} spans/s (2x) offered for ${OVERLOAD_SECONDS} s from 64 connections, then ${low} spans/s"
    echo
    echo "| phase | spans/s accepted | p50 ms | p99 ms | refused (gRPC code: spans) | server CPU % | server RSS max MiB | RSS after MiB |"
    echo "|---|---|---|---|---|---|---|---|"
    for phase in overload-capacity overload recovery; do
      jq -r --arg ph "$phase" --slurpfile p "$out/$phase.proc.json" \
        '"| \($ph) | \(.itemsPerSecond|floor) | \(.latencyMs.p50) | \(.latencyMs.p99) | \(.refused|tostring) | \($p[0].cpuPercentOfCore) | \($p[0].rssMaxMiB) | \($p[0].rssLastMiB) |"' \
        "$out/$phase.load.json"
    done
    echo
    echo "- acknowledged to the clients (all runs on this gateway): $acked spans; appended to the log (gateway counter otlp_gateway_items_appended): $appended spans; lost acknowledged spans: $((acked > appended ? acked - appended : 0))"
    echo "- refused by the gateway for its in-flight budget (reason=overloaded): $refused_overloaded spans"
    echo "- recovery: refusals stopped ${recovery} s after the load dropped to ${low} spans/s (per-second [second, accepted, refused]: $(jq -c '[.[] | [.second, .accepted, .refused]]' "$out/recovery.timeline.json"))"
    echo
  } >>"$out/summary.md"
  log "overload: acked $acked, appended $appended, recovery ${recovery}s"
fi

if [[ -n "$gw_pid" ]]; then stop_pid "$gw_pid"; gw_pid=""; fi
if [[ -n "$sink_pid" ]]; then stop_pid "$sink_pid"; sink_pid=""; fi

if want e2e; then
  # The whole local system: gateway + runner in one `otlpctl dev` on GW_CPU, the blob log on Azurite,
  # tenant dev's file destination. Background load at E2E_RATE; the probe sends 200 single-span
  # exports at 10/s starting 5 s in, and times each from export to its line in traces.jsonl.
  start_dev e2e --role all --log blob
  traces="$data_dir/out/traces.jsonl"
  "${load_pin[@]}" "${otlpctl[@]}" load --endpoint "http://127.0.0.1:$gw_port" --key "$key" --rate "$E2E_RATE" \
    --duration "${E2E_SECONDS}s" --spans-per-request 100 --connections 8 --report "$out/e2e.load.json" >"$out/e2e.load.txt" 2>&1 &
  load_pid=$!; pids+=("$load_pid")
  e2e_probe() {
    sleep 5
    "${load_pin[@]}" "${probe[@]}" --endpoint "http://127.0.0.1:$gw_port" --key "$key" --file "$traces" \
      --count 200 --rate 10 --timeout 60 --report "$out/e2e.probe.json" >"$out/e2e.probe.txt" 2>&1 || true
    wait "$load_pid" || true
  }
  measure "$gw_pid" e2e e2e_probe
  log "e2e load: $(jq -c '{accepted, itemsPerSecond, refused, latencyMs}' "$out/e2e.load.json" 2>/dev/null || tail -3 "$out/e2e.load.txt")"
  log "e2e probe: $(jq -c . "$out/e2e.probe.json" 2>/dev/null || tail -5 "$out/e2e.probe.txt")"
  {
    echo "## End to end: export -> gateway -> blob log (Azurite) -> runner -> file, ${E2E_RATE} spans/s background for ${E2E_SECONDS} s"
    echo
    echo "| background spans/s accepted | probe spans seen/sent | e2e p50 ms | e2e p95 ms | e2e p99 ms | e2e max ms | probe ack p50/p99 ms | dev CPU % of core | dev RSS max MiB |"
    echo "|---|---|---|---|---|---|---|---|---|"
    jq -r --slurpfile l "$out/e2e.load.json" --slurpfile p "$out/e2e.proc.json" \
      '"| \($l[0].itemsPerSecond|floor) | \(.seen)/\(.sent) | \(.endToEndMs.p50) | \(.endToEndMs.p95) | \(.endToEndMs.p99) | \(.endToEndMs.max) | \(.ackMs.p50)/\(.ackMs.p99) | \($p[0].cpuPercentOfCore) | \($p[0].rssMaxMiB) |"' \
      "$out/e2e.probe.json"
    echo
  } >>"$out/summary.md"
  stop_pid "$gw_pid"; gw_pid=""
fi

if want latency; then
  # Delivery latency, export -> gateway -> blob log (Azurite) -> runner -> file, in the whole local system:
  # pushed drains (the gateway starts a drain when it appends to an undrained partition) against the
  # runner's dispatch every second (ServerlessOtlp__Gateway__PushDrainJobs=false), same run, same binaries.
  # light: 40 single-span exports at 2/s, nothing else; after idle: one export every 8 s, after every
  # drain has ended idle (5 s); 5k: the e2e probe over 5,000 spans/s of background load.
  LATENCY_SECONDS_IDLE="${LATENCY_SECONDS_IDLE:-8}"
  LATENCY_IDLE_COUNT="${LATENCY_IDLE_COUNT:-12}"
  LATENCY_LIGHT_COUNT="${LATENCY_LIGHT_COUNT:-40}"
  LATENCY_LOG="${LATENCY_LOG:-blob}" # or memory: otlpctl dev --role all keeps the memory log's bodies for its runner
  read -r -a latency_modes <<<"${LATENCY_MODES:-push dispatch}"
  traces="$data_dir/out/traces.jsonl"
  {
    echo "## Delivery latency (issue 18): export -> file on the $LATENCY_LOG log, pushed drains vs dispatch every second"
    echo
    echo "| drains started by | load | probe spans seen/sent | p50 ms | p95 ms | p99 ms | max ms | probe ack p50/p99 ms |"
    echo "|---|---|---|---|---|---|---|---|"
  } >>"$out/summary.md"
  for mode in "${latency_modes[@]}"; do
    saved_env=("${gw_env[@]}")
    if [[ "$mode" == dispatch ]]; then gw_env+=("ServerlessOtlp__Gateway__PushDrainJobs=false"); fi
    start_dev "latency-$mode" --role all --log "$LATENCY_LOG"
    gw_env=("${saved_env[@]}")
    sleep 10 # every drain of the start-up has ended idle
    "${load_pin[@]}" "${probe[@]}" --endpoint "http://127.0.0.1:$gw_port" --key "$key" --file "$traces" \
      --count "$LATENCY_LIGHT_COUNT" --rate 2 --timeout 60 --report "$out/latency-$mode-light.json" >"$out/latency-$mode-light.txt" 2>&1 || true
    sleep 10
    "${load_pin[@]}" "${probe[@]}" --endpoint "http://127.0.0.1:$gw_port" --key "$key" --file "$traces" \
      --count "$LATENCY_IDLE_COUNT" --rate "$(awk -v s="$LATENCY_SECONDS_IDLE" 'BEGIN { print 1 / s }')" --timeout 60 \
      --report "$out/latency-$mode-idle.json" >"$out/latency-$mode-idle.txt" 2>&1 || true
    "${load_pin[@]}" "${otlpctl[@]}" load --endpoint "http://127.0.0.1:$gw_port" --key "$key" --rate "$E2E_RATE" \
      --duration "${E2E_SECONDS}s" --spans-per-request 100 --connections 8 --report "$out/latency-$mode-5k.load.json" >"$out/latency-$mode-5k.load.txt" 2>&1 &
    load_pid=$!; pids+=("$load_pid")
    sleep 5
    "${load_pin[@]}" "${probe[@]}" --endpoint "http://127.0.0.1:$gw_port" --key "$key" --file "$traces" \
      --count 200 --rate 10 --timeout 60 --report "$out/latency-$mode-5k.json" >"$out/latency-$mode-5k.txt" 2>&1 || true
    wait "$load_pid" || true
    # Drain the background load's backlog before stopping, so the next mode starts on an empty log.
    deadline=$((SECONDS + 180))
    until tail -n 1 "$out/latency-$mode.dev.txt" | grep -q '| lag 0 |' || ((SECONDS >= deadline)); do sleep 2; done
    for run in light idle 5k; do
      case "$run" in light) what="${LATENCY_LIGHT_COUNT} exports at 2/s";; idle) what="one export every ${LATENCY_SECONDS_IDLE} s (after idle)";; 5k) what="${E2E_RATE} spans/s background";; esac
      jq -r --arg mode "$mode" --arg what "$what" \
        '"| \($mode) | \($what) | \(.seen)/\(.sent) | \(.endToEndMs.p50) | \(.endToEndMs.p95) | \(.endToEndMs.p99) | \(.endToEndMs.max) | \(.ackMs.p50)/\(.ackMs.p99) |"' \
        "$out/latency-$mode-$run.json" >>"$out/summary.md" 2>/dev/null || echo "| $mode | $what | (no report: see latency-$mode-$run.txt) |" >>"$out/summary.md"
    done
    stop_pid "$gw_pid"; gw_pid=""
  done
  echo >>"$out/summary.md"
fi

if want coldstart; then
  COLD_REPEAT="${COLD_REPEAT:-2}"
  COLD_SECONDS="${COLD_SECONDS:-15}"
  COLD_SPANS_PER_REQUEST="${COLD_SPANS_PER_REQUEST:-100}" # larger requests make larger events (up to ~950 KB)
  COLD_BUILDS="${COLD_BUILDS:-jit r2r}"
  traces="$data_dir/out/traces.jsonl"
  {
    echo "## Cold start of a drain process (issue 18): a fresh \`otlpctl dev --role runner --log blob\` draining a backlog of ${COLD_SECONDS} s at ${STEADY_RATE} spans/s, ${COLD_SPANS_PER_REQUEST} spans per request"
    echo
    echo "| build | run | backlog spans | exec -> first export s | spans in first 10 s | all spans s | spans/s after the first export | RSS max MiB | drain budget high-water MiB |"
    echo "|---|---|---|---|---|---|---|---|---|"
  } >>"$out/summary.md"
  for ((r = 1; r <= COLD_REPEAT; r++)); do
    for build in $COLD_BUILDS; do
      start_dev "cold-$build-$r-gateway" --role gateway --log blob
      load "cold-$build-$r" "$gw_port" "$key" --rate "$STEADY_RATE" --duration "${COLD_SECONDS}s" --spans-per-request "$COLD_SPANS_PER_REQUEST" --connections 8
      stop_pid "$gw_pid"; gw_pid=""
      backlog="$(jq '.accepted' "$out/cold-$build-$r.load.json")"
      rm -f "$traces"
      if [[ "$build" == jit ]]; then dll="$repo/tools/otlpctl/bin/Release/net10.0/otlpctl.dll"; else dll="$repo/artifacts/otlpctl-r2r/otlpctl.dll"; fi
      "${load_pin[@]}" python3 "$repo/bench/first-export.py" "$out/cold-$build-$r.json" "$traces" "$backlog" 180 -- \
        env "${gw_env[@]}" "${gw_pin[@]}" dotnet "$dll" dev --storage "$storage" --data-dir "$data_dir" --role runner --log blob >&2
      # The runner's last heartbeat (its stop) carries the drains' memory budget high-water mark.
      "${otlpctl[@]}" status --output json --storage "$storage" --log blob >"$out/cold-$build-$r.status.json" 2>/dev/null || true
      budget="$(jq '[.nodes[] | select(.role == "runner")] | max_by(.lastHeartbeat) | .counters.memoryHighWaterBytes / 1048576 | . * 10 | floor / 10' "$out/cold-$build-$r.status.json" 2>/dev/null || echo "?")"
      jq -r --arg b "$build" --arg r "$r" --arg n "$backlog" --arg budget "$budget" \
        '"| \($b) | \($r) | \($n) | \(.firstExportSeconds) | \(.spansInFirst10s) | \(.allSeconds) | \(if .allSeconds and .firstExportSeconds then (.spans / (.allSeconds - .firstExportSeconds) | floor) else "?" end) | \(.rssMaxMiB) | \($budget) |"' \
        "$out/cold-$build-$r.json" >>"$out/summary.md"
    done
  done
  echo >>"$out/summary.md"
fi

if want cost; then
  COST_SECONDS="${COST_SECONDS:-60}"
  emulator_port="$(free_port)"
  "${load_pin[@]}" dotnet "$repo/tests/ServerlessOtlp.EventHubsEmulator/bin/Release/net10.0/ServerlessOtlp.EventHubsEmulator.dll" \
    --port "$emulator_port" --partitions 8 --hub otlp >"$work/emulator.txt" 2>"$out/emulator.err.txt" &
  emulator_pid=$!; pids+=("$emulator_pid")
  wait_port "$emulator_port" "$emulator_pid" 60
  hub="$(head -1 "$work/emulator.txt")"
  start_dev cost --role all --log eventhubs --event-hubs-connection-string "$hub"
  sleep 10 # the start-up's drains have ended idle
  metrics_snapshot() { curl -fsS "http://127.0.0.1:$gw_mgmt_port/metrics" >"$out/$1.metrics.txt"; }
  metric_in() { # metric_in FILE NAME [LABEL_FILTER]
    awk -v n="$2" -v f="${3:-}" '$1 ~ "^" n "(_total)?([{]|$)" && (f == "" || index($1, f) > 0) { s += $NF } END { printf "%d\n", s }' "$1"
  }
  metrics_snapshot cost-before
  load cost "$gw_port" "$key" --rate "$STEADY_RATE" --duration "${COST_SECONDS}s" --spans-per-request 100 --connections 8
  deadline=$((SECONDS + 300))
  until tail -n 1 "$out/cost.dev.txt" | grep -q '| lag 0 |' || ((SECONDS >= deadline)); do sleep 2; done
  sleep 5
  metrics_snapshot cost-after
  spans="$(jq '.accepted' "$out/cost.load.json")"
  {
    echo "## Billable operations per million spans (issue 18): ${STEADY_RATE} spans/s for ${COST_SECONDS} s, gateway and runner (\`otlpctl dev --role all\`) on the Event Hubs log (local AMQP endpoint), counted by the process"
    echo
    echo "spans accepted: $spans; load: $(jq -c '{itemsPerSecond, refused, latencyMs}' "$out/cost.load.json")"
    echo
    echo "| operation | during the run | per million spans |"
    echo "|---|---|---|"
    for m in "otlp_storage_transactions service=\"table\"" "otlp_storage_transactions service=\"queue\"" "otlp_storage_transactions service=\"blob\"" \
             "otlp_gateway_events_appended" "otlp_gateway_log_ingress_units" "otlp_gateway_items_appended" "otlp_drain_end_to_end_seconds_count"; do
      name="${m%% *}"; filter=""; label="$name"
      if [[ "$m" == *" "* ]]; then filter="${m#* }"; label="$name{$filter}"; fi
      d=$(( $(metric_in "$out/cost-after.metrics.txt" "$name" "$filter") - $(metric_in "$out/cost-before.metrics.txt" "$name" "$filter") ))
      echo "| $label | $d | $(awk -v d="$d" -v s="$spans" 'BEGIN { if (s > 0) printf "%.1f", d * 1e6 / s; else print "?" }') |"
    done
    echo
  } >>"$out/summary.md"
  stop_pid "$gw_pid"; gw_pid=""
fi

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/summary.md"
echo
cat "$out/summary.md"
echo
echo "reports: $out"
