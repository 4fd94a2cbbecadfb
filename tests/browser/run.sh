#!/usr/bin/env bash
# Browser test of `tapprove demo` in headless Chromium. Installs what it needs, idempotently:
# Debian's chromium (only if /usr/bin/chromium is missing) and the npm packages (npm ci).
# Uses the already-built binary: $TAPPROVE_BIN (default target/debug/tapprove).
# Screenshots: docs/screenshots/*.png.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="${TAPPROVE_BIN:-$ROOT/target/debug/tapprove}"
case "$BIN" in /*) ;; *) BIN="$PWD/$BIN" ;; esac
if [ ! -x "$BIN" ]; then
  echo "run.sh: $BIN does not exist; build it first with: cargo build -p tapprove-cli" >&2
  exit 1
fi

if [ ! -x /usr/bin/chromium ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "run.sh: installing chromium (Debian package)" >&2
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium
fi
command -v node >/dev/null || { echo "run.sh: node is required (Node 18+)" >&2; exit 1; }

cd "$HERE"
npm ci --no-audit --no-fund --loglevel=error
# Screenshots go under target/; TAPPROVE_REFRESH_DOCS=1 writes them into docs/screenshots.
if [ "${TAPPROVE_REFRESH_DOCS:-}" = 1 ]; then SHOTS="$ROOT/docs/screenshots"; else SHOTS="$ROOT/target/screenshots"; fi
mkdir -p "$SHOTS"
TAPPROVE_BIN="$BIN" SCREENSHOT_DIR="$SHOTS" node --test --test-concurrency=1 demo.test.mjs nist.test.mjs
