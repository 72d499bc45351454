#!/usr/bin/env bash
# Installs the pinned Bicep CLI (from NuGet; no Docker, no az CLI needed) into .tools/bicep/
# and checks every .bicep / .bicepparam file: `bicep build` / `bicep build-params` and
# `bicep lint` must report no warning and no error.
#
#   bash .ci/install-bicep.sh            install if missing, then build + lint
#   bash .ci/install-bicep.sh --install  install only
#
# Environment: BICEP_VERSION (default 0.49.2), NUGET_SOURCE (a NuGet v3 service index;
# default: the first enabled source of `dotnet nuget list source`, else nuget.org).
set -euo pipefail

BICEP_VERSION="${BICEP_VERSION:-0.49.2}"
PACKAGE_ID="Azure.Bicep.CommandLine.linux-x64"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOL_DIR="$ROOT/.tools/bicep"
BICEP="$TOOL_DIR/bicep"

log() { printf 'install-bicep: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) die "this script fetches the linux-x64 Bicep CLI; on $(uname -s)-$(uname -m) install Bicep yourself and copy it to $BICEP" ;;
esac

nuget_service_index() {
  if [[ -n "${NUGET_SOURCE:-}" ]]; then echo "$NUGET_SOURCE"; return; fi
  local src=""
  if command -v dotnet >/dev/null 2>&1; then
    # Lines look like "  1.  nuget.org [Enabled]" followed by "      https://…/index.json".
    src="$(dotnet nuget list source 2>/dev/null | awk '/\[Enabled\]/ { getline; gsub(/^[ \t]+|[ \t]+$/, ""); print; exit }')"
  fi
  if [[ "$src" != http*://*index.json ]]; then src="https://api.nuget.org/v3/index.json"; fi
  echo "$src"
}

# PackageBaseAddress/3.0.0 (the "flat container") from the v3 service index.
flat_container() {
  local index="$1"
  curl -fsSL --retry 3 "$index" 2>/dev/null | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("resources", []):
    if r.get("@type", "").startswith("PackageBaseAddress/3.0.0"):
        print(r["@id"].rstrip("/")); break
' 2>/dev/null
}

extract_nupkg() {
  local nupkg="$1" dest="$2"
  if command -v unzip >/dev/null 2>&1; then
    unzip -q -o -j "$nupkg" 'tools/bicep' -d "$dest"
  else
    python3 - "$nupkg" "$dest" <<'PY'
import sys, zipfile, shutil, os
with zipfile.ZipFile(sys.argv[1]) as z, z.open("tools/bicep") as src, open(os.path.join(sys.argv[2], "bicep"), "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  fi
}

download_direct() {
  local work="$1" index base id
  index="$(nuget_service_index)"
  base="$(flat_container "$index")" || return 1
  [[ -n "$base" ]] || return 1
  id="$(echo "$PACKAGE_ID" | tr '[:upper:]' '[:lower:]')"
  log "downloading $PACKAGE_ID $BICEP_VERSION from $base"
  curl -fsSL --retry 3 -o "$work/bicep.nupkg" "$base/$id/$BICEP_VERSION/$id.$BICEP_VERSION.nupkg" || return 1
  extract_nupkg "$work/bicep.nupkg" "$work"
}

# Fallback: let NuGet fetch it (honours NuGet.Config, proxies and authenticated feeds).
download_with_restore() {
  local work="$1" packages="${NUGET_PACKAGES:-$HOME/.nuget/packages}" id
  id="$(echo "$PACKAGE_ID" | tr '[:upper:]' '[:lower:]')"
  log "direct download failed; restoring $PACKAGE_ID through NuGet"
  mkdir -p "$work/restore"
  cat >"$work/restore/BicepDownload.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>net10.0</TargetFramework>
    <ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally>
    <ImportDirectoryBuildProps>false</ImportDirectoryBuildProps>
  </PropertyGroup>
  <ItemGroup>
    <PackageDownload Include="$PACKAGE_ID" Version="[$BICEP_VERSION]" />
  </ItemGroup>
</Project>
XML
  # The work directory is outside the repository, so no Directory.*.props applies.
  flock /tmp/serverlessotlp-build.lock dotnet restore "$work/restore/BicepDownload.csproj" --verbosity quiet >&2 || return 1
  cp "$packages/$id/$BICEP_VERSION/tools/bicep" "$work/bicep"
}

install_bicep() {
  if [[ -x "$BICEP" ]] && "$BICEP" --version 2>/dev/null | grep -q "$BICEP_VERSION"; then
    return 0
  fi
  local work
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  download_direct "$work" || download_with_restore "$work" || die "could not download $PACKAGE_ID $BICEP_VERSION"
  mkdir -p "$TOOL_DIR"
  install -m 0755 "$work/bicep" "$BICEP"
  "$BICEP" --version >&2 || die "the downloaded bicep does not run"
}

check_all() {
  local out failed=0 f rel
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' RETURN
  export BICEP_TRACING_ENABLED=false
  mapfile -t files < <(cd "$ROOT" && find . -path ./.tools -prune -o -path '*/node_modules' -prune -o \
      \( -name '*.bicep' -o -name '*.bicepparam' \) -type f -print | sed 's|^\./||' | sort)
  [[ ${#files[@]} -gt 0 ]] || die "no .bicep files found"
  for rel in "${files[@]}"; do
    f="$ROOT/$rel"
    local diag status=0
    if [[ "$rel" == *.bicepparam ]]; then
      diag="$("$BICEP" build-params "$f" --outfile "$out/$(echo "$rel" | tr '/' '_').json" 2>&1)" || status=$?
      diag+="$("$BICEP" lint "$f" 2>&1)" || status=$?
    else
      diag="$("$BICEP" build "$f" --outfile "$out/$(echo "$rel" | tr '/' '_').json" 2>&1)" || status=$?
      # lint prints diagnostics and exits non-zero on errors; any output is a finding.
      diag+="$("$BICEP" lint "$f" 2>&1)" || status=$?
    fi
    if [[ $status -ne 0 || -n "$diag" ]]; then
      failed=1
      log "FAIL $rel"
      printf '%s\n' "$diag" >&2
    else
      log "ok   $rel"
    fi
  done
  [[ $failed -eq 0 ]] || die "bicep reported warnings or errors (see above)"
}

install_bicep
if [[ "${1:-}" != "--install" ]]; then check_all; fi
