#!/usr/bin/env bash
# Reproduces the figures in BENCHMARKS.md. Usage: bench/run.sh [extra BenchmarkDotNet args]
#   bench/run.sh gateway [throughput|steady|overload|e2e ...]
#                          -> the gateway and end-to-end figures (bench/gateway.sh; see its header)
#   bench/run.sh drain     -> the drain path: wire sampling + OTTL transform vs decode-everything (issue #4)
#   bench/run.sh logdrain  -> drain throughput of one partition on the blob log (Azurite) and on Event Hubs
#                             (the tests' local AMQP endpoint), reads + checkpoints, no export (issue #15)
#   bench/run.sh export    -> remote-write conversion and the OTLP/Loki export encodings (issue #5)
#   bench/run.sh batching  -> a destination's batch vs none: 100k spans to a loopback otlphttp sink (issue 17)
#   QUICK=1 bench/run.sh   -> BenchmarkDotNet's short job (fewer iterations, wider error bars)
#   BENCH_FILTER='*Split*' -> which benchmarks to run (default: the splitter set)
#   BENCH_CPU=1            -> the core the benchmark process is pinned to (taskset)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
project="$repo/bench/ServerlessOtlp.Benchmarks"
artifacts="$repo/BenchmarkDotNet.Artifacts"
filter="${BENCH_FILTER:-*Split*}"
cpu="${BENCH_CPU:-1}"

cd "$repo"

case "${1:-}" in
  gateway)
    shift
    exec "$repo/bench/gateway.sh" "$@"
    ;;
  drain)
    shift
    filter="${BENCH_FILTER:-*DrainPath*}"
    ;;
  export)
    shift
    filter="${BENCH_FILTER:-*Benchmarks.Export.*}"
    ;;
  batching)
    shift
    filter="${BENCH_FILTER:-*DestinationBatching*}"
    ;;
  logdrain)
    shift
    filter="${BENCH_FILTER:-*LogDrain*}"
    ;;
esac

# Several builds share this tree on the dev machine; the lock serializes them (a no-op elsewhere).
# Held for the build and the measurement, so no other build runs on the cores being measured.
if command -v flock >/dev/null 2>&1 && [[ -z "${SERVERLESSOTLP_BENCH_LOCKED:-}" ]]; then
  SERVERLESSOTLP_BENCH_LOCKED=1 BENCH_FILTER="$filter" exec flock /tmp/serverlessotlp-build.lock "$0" "$@"
fi

dotnet build -c Release "$project" -nologo -v quiet

# --inProcess measures the binaries just built, without BenchmarkDotNet building a second copy
# of the tree (which could race other builds or pick up half-edited sources).
args=(--filter "$filter" --exporters github --inProcess --artifacts "$artifacts")
if [[ "${QUICK:-0}" == "1" ]]; then
  args+=(--job short)
fi

run=(dotnet run -c Release --no-build --project "$project" -- "${args[@]}" "$@")
if command -v taskset >/dev/null 2>&1; then
  run=(taskset -c "$cpu" "${run[@]}")
else
  echo "taskset not found: running unpinned" >&2
fi

echo "machine: $(nproc) cores, $(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1), dotnet $(dotnet --version)"
echo "running: ${run[*]}"
"${run[@]}"

echo
echo "results: $artifacts/results/"
ls -1 "$artifacts"/results/*-report-github.md 2>/dev/null || true
