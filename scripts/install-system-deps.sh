#!/usr/bin/env bash
# Installs the Debian packages xbuild's build recipe and test suite need (the
# contributor/CI set-up; users install the npm release instead, docs/release.md).
# Idempotent: re-running only installs what is missing.
#  - deb-src entries for trixie and sid are derived from the machine's own
#    debian.sources (its URIs line is reused; no host name is written here),
#    for looking at sources by hand; the scripts do not need them
#    (scripts/fetch-debian-source.sh brings its own apt configuration).
#  - bookworm-backports provides meson >= 1.5 that QEMU 10 requires.
#  - qemu-user-static is NEVER installed: its postinst may register
#    binfmt_misc handlers. Fixtures fetch it with `apt-get download` instead.
set -euo pipefail
APT_OPTS=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
export DEBIAN_FRONTEND=noninteractive

src=/etc/apt/sources.list.d/debian.sources
uris=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$src")
[ -n "$uris" ] || { echo "install-system-deps: no URIs line in $src" >&2; exit 2; }

changed=0
if [ ! -f /etc/apt/sources.list.d/xbuild-src.sources ]; then
  cat > /etc/apt/sources.list.d/xbuild-src.sources <<SRC
Types: deb-src
URIs: $uris
Suites: trixie sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $uris
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  changed=1
fi
for a in armhf arm64 armel; do
  if ! dpkg --print-foreign-architectures | grep -qx "$a"; then
    dpkg --add-architecture "$a"; changed=1
  fi
done

PKGS=(
  # 1. QEMU static linux-user build (scripts/build-emulators.sh, `xbuild qemu build`)
  build-essential ninja-build pkg-config dpkg-dev python3-venv
  libglib2.0-dev libpcre2-dev zlib1g-dev libffi-dev libmount-dev libselinux1-dev
  flex bison git xz-utils bzip2
  # QEMU 10 configure wants pycotap (bookworm-backports; the +ds tarball drops python/wheels)
  python3-pycotap
  # QEMU 10.2 configure needs dtc when the +ds tarball lacks the prebuilt pc-bios/dtb/*.dtb
  device-tree-compiler
  # 2. test programs: cross compilers and libcs for armhf, arm64, armel, riscv64, ppc64el, s390x
  #    (scripts/fixtures/test-programs.sh)
  gcc-arm-linux-gnueabihf gcc-aarch64-linux-gnu gcc-arm-linux-gnueabi
  libc6-dev-armhf-cross libc6-dev-arm64-cross libc6-dev-armel-cross
  gcc-riscv64-linux-gnu gcc-powerpc64le-linux-gnu gcc-s390x-linux-gnu
  libc6-dev-riscv64-cross libc6-dev-ppc64el-cross libc6-dev-s390x-cross
  # 3. real parts the tests run against: registry (+ htpasswd, openssl for auth/TLS), skopeo,
  #    builders (buildah, docker.io), podman (test/e2e-run-local), debootstrap for Debian fixture images
  docker-registry apache2-utils openssl skopeo buildah docker.io podman uidmap debootstrap
  #    rootless builders (test/e2e-rootless): uidmap's setuid newuidmap/newgidmap (above), rootlesskit for
  #    rootless dockerd (docs/builders.md "Rootless builders")
  rootlesskit
  # umoci: the real unpacker verify's layer reader is differential-tested against (test/layer-umoci-*)
  umoci
  # 4. tools of the fixture scripts and helpers: busybox, file, jq, unshare/setpriv (util-linux), ip
  busybox file jq util-linux iproute2
  # 5. benchmarks (bench/exec: proot) and the end-to-end autoconf demo project
  proot autoconf
  # not used by any test or script today (kept until the lead prunes them): fakeroot curl
  fakeroot curl
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
meson_ok=0
if command -v meson >/dev/null && dpkg --compare-versions "$(meson --version)" ge 1.5; then meson_ok=1; fi

if [ ${#missing[@]} -gt 0 ] || [ $meson_ok = 0 ] || [ $changed = 1 ]; then
  # A mirror mid-sync fails one index now and then: retry, then go on with
  # what was fetched (a missing foreign-arch security index does not block us).
  for i in 1 2 3; do
    apt-get "${APT_OPTS[@]}" update -q && break
    echo "install-system-deps: apt-get update failed (try $i), retrying" >&2; sleep $((i * 5))
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  # policy-rc.d keeps package scripts from starting daemons (dockerd, registry):
  # tests start their own, on loopback, with their own configuration.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  apt-get "${APT_OPTS[@]}" install -y -q --no-install-recommends "${missing[@]}"
  rm -f /usr/sbin/policy-rc.d
fi
if [ $meson_ok = 0 ]; then
  apt-get "${APT_OPTS[@]}" install -y -q --no-install-recommends -t bookworm-backports meson
fi
echo "install-system-deps: ok (meson $(meson --version))"
