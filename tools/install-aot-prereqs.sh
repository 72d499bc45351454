#!/usr/bin/env bash
# Installs what Native AOT needs to link the gateway (a C toolchain and zlib's headers), from
# Debian when missing (idempotent, quiet). See https://aka.ms/nativeaot-prerequisites.
set -euo pipefail

if { command -v clang >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1; } && [ -e /usr/include/zlib.h ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-aot-prereqs: apt-get not found; install clang (or gcc) and zlib's development headers" >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  sudo=(sudo)
fi

log=$(mktemp)
if ! { "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends gcc libc6-dev zlib1g-dev; } >"$log" 2>&1; then
  cat "$log" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
