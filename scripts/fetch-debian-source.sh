#!/usr/bin/env bash
# fetch-debian-source.sh SUITE PACKAGE UPSTREAM_VERSION
#
# Downloads one Debian source package (.dsc + its files, checked by apt
# against the suite's signed index) of the newest Debian version of PACKAGE
# in SUITE whose upstream version is UPSTREAM_VERSION or starts with it
# followed by one of . + ~ - ("10.0" takes 10.0.13+ds), into
#   $(xb_cache_root)/debian-src/<package>_<debian version without epoch>/
# and prints that directory. A second call finds it there and asks nothing.
#
# SUITE need not be in the machine's apt sources: apt runs with its own
# sources list, lists and cache (Dir::Etc::SourceList, Dir::Etc::SourceParts,
# Dir::State::Lists, Dir::Cache) in a temporary directory, with the mirror
# taken from the machine's /etc/apt/sources.list.d/debian.sources (no host
# name is written here). The download lands in a temporary sibling and is
# renamed into place, so readers see nothing or the whole package.
set -euo pipefail
here=$(dirname "$0")
# shellcheck source=fixtures/lib.sh
. "$here/fixtures/lib.sh"

[ $# -eq 3 ] || xb_die "usage: fetch-debian-source.sh SUITE PACKAGE UPSTREAM_VERSION"
suite=$1 pkg=$2 upstream=$3
case "$suite$pkg$upstream" in *[!A-Za-z0-9.+~-]*) xb_die "suite, package and version may hold only [A-Za-z0-9.+~-]";; esac
xb_need apt-get apt-cache flock

root="$(xb_cache_root)/debian-src"
mkdir -p "$root"
# Already fetched (any Debian revision of a matching upstream version)?
find_cached() { find "$root" -maxdepth 2 -path "$root/${pkg}_${upstream}[.+~-]*/.complete" -printf '%h\n' 2>/dev/null | sort -V | tail -n1; }
hit=$(find_cached)
if [ -n "$hit" ]; then printf '%s\n' "$hit"; exit 0; fi

exec 9>"$root/.${pkg}_${upstream}.lock"
flock 9
hit=$(find_cached)
if [ -n "$hit" ]; then printf '%s\n' "$hit"; exit 0; fi

src=/etc/apt/sources.list.d/debian.sources
uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$src" 2>/dev/null || true)
[ -n "$uri" ] || xb_die "no Debian mirror: $src has no URIs line (outside the security archive)"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || xb_die "missing $keyring (apt-get install debian-archive-keyring)"

tmp=$(mktemp -d "$root/.tmp-${pkg}-XXXXXX")
# shellcheck disable=SC2064
trap "rm -rf '$tmp'" EXIT
mkdir -p "$tmp/etc/parts" "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/out"
echo "deb-src [signed-by=$keyring] $uri $suite main" > "$tmp/etc/sources.list"
apt_opts=(
  -o "Dir::Etc::SourceList=$tmp/etc/sources.list" -o "Dir::Etc::SourceParts=$tmp/etc/parts"
  -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache"
  -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
  -o APT::Sandbox::User=root -o Acquire::Retries=3 -o Acquire::Languages=none
)
echo "fetch-debian-source: reading $suite's Sources index" >&2
apt-get -q "${apt_opts[@]}" update >&2 || xb_die "apt-get update for deb-src $suite failed"
version=$(apt-cache "${apt_opts[@]}" showsrc "$pkg" 2>/dev/null \
  | awk -v p="$pkg" '/^Package:/ {cur=$2} /^Version:/ && cur == p {print $2}' \
  | grep -E "^([0-9]+:)?${upstream//./\\.}([.+~-]|$)" | sort -V | tail -n1 || true)
[ -n "$version" ] || xb_die "$suite's Sources index has no $pkg of upstream version $upstream"
echo "fetch-debian-source: downloading $pkg $version from $suite" >&2
(cd "$tmp/out" && apt-get -q "${apt_opts[@]}" source --download-only "$pkg=$version" >&2) \
  || xb_die "apt-get source $pkg=$version failed"
ls "$tmp/out"/*.dsc >/dev/null 2>&1 || xb_die "apt-get source $pkg=$version left no .dsc"
touch "$tmp/out/.complete"
final="$root/${pkg}_${version#*:}"
rm -rf "$final"
mv -T "$tmp/out" "$final"
printf '%s\n' "$final"
