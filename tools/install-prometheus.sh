#!/usr/bin/env bash
# Installs Prometheus from Debian for the remote-write tests (idempotent, quiet). The tests start
# their own server on a loopback port, so no system service may be left running: Debian's
# package starts one through systemd or /etc/init.d, which would hold :9090.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-prometheus: apt-get not found; install Prometheus (>= 2.33, with --web.enable-remote-write-receiver) and put it on PATH" >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  sudo=(sudo)
fi

# policy-rc.d answering 101 keeps the package's maintainer scripts from starting the service.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod +x "$policy"
  made_policy=1
fi
cleanup() { if [ "$made_policy" = 1 ]; then "${sudo[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT

# apt and debconf chatter goes to a log shown only when the install fails.
log=$(mktemp)
if ! { "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends prometheus; } >"$log" 2>&1; then
  cat "$log" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"

# Belt and braces: stop a service the package may still have started.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  "${sudo[@]}" systemctl disable --now prometheus >/dev/null 2>&1 || true
elif [ -x /etc/init.d/prometheus ]; then
  "${sudo[@]}" /etc/init.d/prometheus stop >/dev/null 2>&1 || true
fi

prometheus --version 2>&1 | head -1
