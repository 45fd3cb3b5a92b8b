#!/usr/bin/env bash
# `npm run demo`: xbuild's main job on an embedded example, offline except for
# Debian's archive (the busybox packages), after scripts/setup.sh:
#   1. show which emulators and shim wrap will use (xbuild doctor)
#   2. build a tiny ARMv7 base image from Debian's busybox-static package
#   3. xbuild wrap it (OCI layout in, OCI layout out)
#   4. build base-images/busybox/Dockerfile from it with a real builder
#      (buildah bud --isolation chroot, private storage): its RUN lines run ARM
#      busybox under the emulator, on a host without binfmt_misc for ARM
#   5. xbuild verify the built image
# DEMO_PLATFORM=arm64 uses the arm64 busybox instead of armv7.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
xbuild() { node "$root/bin/xbuild.mjs" "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
case "${DEMO_PLATFORM:-armv7}" in
  armv7) name=busybox-armv7; platform=linux/arm/v7 ;;
  arm64) name=busybox-arm64; platform=linux/arm64/v8 ;;
  *) echo "demo: DEMO_PLATFORM must be armv7 or arm64" >&2; exit 2 ;;
esac
for t in buildah node apt-cache dpkg-deb jq; do
  command -v "$t" >/dev/null || { echo "demo: missing '$t': run scripts/setup.sh first" >&2; exit 2; }
done
[ -f dist/xbuild.mjs ] || node scripts/build.mjs

# lower case: buildah names an image pulled from oci:DIR after DIR, and image names are lower case
work=$(mktemp -d "${TMPDIR:-/tmp}/xbuild-demo-XXXXXX")
lower=$(printf '%s' "$work" | tr 'A-Z' 'a-z')
if [ "$lower" != "$work" ]; then mkdir "$lower" && rmdir "$work" && work=$lower; fi
storage=(--root "$work/storage" --runroot "$work/run" --storage-driver vfs)
cleanup() {
  buildah "${storage[@]}" rm --all >/dev/null 2>&1 || true
  # chroot isolation may leave bind mounts under the private storage: unmount deepest first
  awk -v d="$work" '$5 == d || index($5, d "/") == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
printf 'unqualified-search-registries = []\n' > "$work/registries.conf"
export REGISTRIES_CONFIG_PATH=$work/registries.conf BUILDAH_ISOLATION=chroot

say "1/5 xbuild doctor: where the emulators and the shim come from"
xbuild doctor || { echo "demo: xbuild is not ready (see above); scripts/setup.sh builds what it needs" >&2; exit 2; }

say "2/5 building a tiny $platform base image from Debian's busybox-static package"
images=$(bash scripts/fixtures/busybox-images.sh | tail -n1)
echo "base: oci:$images/$name:$name"

say "3/5 xbuild wrap oci:$name -> oci:$work/wrapped:wrapped"
xbuild wrap "oci:$images/$name:$name" --output "type=oci,dest=$work/wrapped" -t xbuild-demo:wrapped

say "4/5 buildah bud --isolation chroot -f base-images/busybox/Dockerfile (RUN lines under emulation)"
id=$(buildah "${storage[@]}" pull -q "oci:$work/wrapped:wrapped" | tail -n1)
buildah "${storage[@]}" tag "$id" localhost/xbuild-demo/base:wrapped
buildah "${storage[@]}" bud --isolation chroot --network host --pull=never --platform "$platform" \
  --build-arg BASE=localhost/xbuild-demo/base:wrapped -f base-images/busybox/Dockerfile \
  -t localhost/xbuild-demo/app:built base-images 2>&1 | tee "$work/build.log"
grep -q '^XB uname-m=' "$work/build.log" || { echo "demo: the RUN lines printed nothing: they did not run" >&2; exit 1; }
buildah "${storage[@]}" push -q localhost/xbuild-demo/app:built "oci:$work/built:app"

say "5/5 xbuild verify oci:built (emulator static and host-native, shims in place, cross-build mode ended, platform matches)"
xbuild verify "oci:$work/built:app"
echo
echo "demo: done. The RUN lines above (XB uname-m=..., XB pipeline=...) ran ARM busybox under xbuild's emulator."
