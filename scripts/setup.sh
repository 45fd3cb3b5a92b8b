#!/usr/bin/env bash
# Contributor/CI set-up on a Debian bookworm x86_64 machine (as root):
#   system packages (grouped and commented in install-system-deps.sh),
#   npm dependencies, the CLI bundle, and the emulators + shim (built from
#   Debian sid's QEMU source package of the pinned version into the xbuild cache; a second run
#   finds them cached and takes seconds). Then: npm run demo, npm test,
#   npm run release. Users do not run this: they install the release
#   (docs/release.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
node scripts/build.mjs
if [ -x scripts/build-emulators.sh ]; then bash scripts/build-emulators.sh; fi
echo "setup: done. Try: npm run demo   (tests: npm test; release tarballs: npm run release)"
