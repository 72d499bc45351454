#!/usr/bin/env bash
# Runs the README's test command on N fresh clones of this repository's HEAD, one after the other,
# as CI does (a clean clone each time), and prints one line per run: exit status, duration and the
# test counts. Exits non-zero if any run failed. Usage: tools/test-repeat.sh [N=5] [KEEP_DIR]
#
# Each run's full output is kept in the run's directory (run-K.log) for failures to be read.
set -uo pipefail
n=${1:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
keep=${2:-$(mktemp -d -t serverlessotlp-repeat-XXXX)}
mkdir -p "$keep"
echo "== $n fresh-clone runs of $(git -C "$root" rev-parse --short HEAD) in $keep"
failed=0
for k in $(seq 1 "$n"); do
  dir="$keep/run-$k"
  rm -rf "$dir"
  git clone -q "$root" "$dir"
  started=$(date +%s)
  (cd "$dir" && CI=true bash .ci/run) > "$keep/run-$k.log" 2>&1
  status=$?
  took=$(( $(date +%s) - started ))
  summary=$(tail -n 1 "$keep/run-$k.log")
  printf "run %d: exit %d in %dm%02ds — %s\n" "$k" "$status" $((took / 60)) $((took % 60)) "$summary"
  if [ "$status" -ne 0 ]; then
    failed=$((failed + 1))
    grep -E "^FAILED: |^\s*Failed [A-Za-z]" "$keep/run-$k.log" | sort -u | head -20
  fi
  # A clone's build output is large; keep the log, drop the tree.
  rm -rf "$dir"
done
echo "== $((n - failed)) of $n runs passed"
[ "$failed" -eq 0 ]
