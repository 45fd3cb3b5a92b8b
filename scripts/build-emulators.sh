#!/usr/bin/env bash
# Builds xbuild's patched static emulators from Debian sid's QEMU source
# package of the pinned version (PINNED_QEMU in src/qemu/pinned.ts, the one
# definition of it) into the xbuild cache. This is CI's source. The source
# package is fetched once into $(xb_cache_root)/debian-src/ by
# scripts/fetch-debian-source.sh (its own apt configuration: sid need not be
# in the machine's sources); a second run finds the emulators cached and
# takes a second or two.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n "s/^ *version: '\([0-9.]*\)',$/\1/p" src/qemu/pinned.ts)
[ -n "$version" ] || { echo "build-emulators: cannot read the pinned version from src/qemu/pinned.ts" >&2; exit 2; }
dir=$(bash scripts/fetch-debian-source.sh sid qemu "$version")
dsc=$(ls "$dir"/qemu_*.dsc | sort -V | tail -n1)
# Always rebuild the bundle (a second or two): a stale dist/ carries an old
# SERIES_VERSION and refuses the freshly built emulators after the whole build.
node scripts/build.mjs
exec node bin/xbuild.mjs qemu build --source "$dsc" "$@"
