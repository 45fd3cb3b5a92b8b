#!/usr/bin/env bash
# One-time setup on a Debian bookworm x86_64 machine (as root):
#   system packages, npm dependencies, the CLI bundle, and the emulators
#   (built from Debian's trixie QEMU source package into the xbuild cache;
#   a second run finds them cached and takes seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
node scripts/build.mjs
if [ -x scripts/build-emulators.sh ]; then bash scripts/build-emulators.sh; fi
echo "setup: done. Try: ./bin/xbuild.mjs --help"
