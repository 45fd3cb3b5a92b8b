#!/usr/bin/env bash
# Builds xbuild's patched static emulators from Debian trixie's QEMU source
# package (the stable source CI uses) into the xbuild cache. The source
# package is downloaded once into the cache (outside the repo); a second run
# finds the emulators cached and takes a second or two.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=fixtures/lib.sh
. scripts/fixtures/lib.sh
cache=$(xb_cache_root)
srcdir="$cache/debian-src/qemu-trixie"
mkdir -p "$srcdir"
dsc=$(ls "$srcdir"/qemu_*.dsc 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$dsc" ]; then
  echo "build-emulators: downloading Debian trixie's qemu source package into $srcdir"
  # apt's sandbox user cannot write into root's cache: fetch in a temp dir, then move.
  tmp=$(mktemp -d)
  chmod 755 "$tmp"
  (cd "$tmp" && apt-get -o DPkg::Lock::Timeout=600 source --download-only qemu/trixie)
  mv "$tmp"/qemu_* "$srcdir"/
  rmdir "$tmp" 2>/dev/null || rm -rf "$tmp"
  dsc=$(ls "$srcdir"/qemu_*.dsc | sort -V | tail -n1)
fi
[ -f bin/xbuild.mjs ] && [ -f dist/xbuild.mjs ] || node scripts/build.mjs
exec node bin/xbuild.mjs qemu build --source "$dsc"
