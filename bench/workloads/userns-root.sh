#!/usr/bin/env bash
# Runs "$@" as root of a NEW user namespace that maps uids and gids 0-65535 onto the
# same host ids (so dpkg can chown to system users), with its own mount and pid
# namespaces. `unshare --map-users` would need /etc/subuid entries for root; instead
# this (root) process writes the child's maps itself, then lets it go on.
#   bench/workloads/userns-root.sh CMD [ARG...]
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "userns-root.sh: must run as root" >&2; exit 2; }
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
mkfifo "$dir/go"
# the child waits for the maps, then execs the command (an exec after the maps gives it
# the namespace's full capabilities)
unshare --user --mount --pid --fork -- /bin/sh -c 'read -r _ < "$0"; exec "$@"' "$dir/go" "$@" &
pid=$!
self=$(readlink /proc/self/ns/user)
for _ in $(seq 1 500); do
  ns=$(readlink "/proc/$pid/ns/user" 2>/dev/null || true)
  [ -n "$ns" ] && [ "$ns" != "$self" ] && break
  sleep 0.01
done
[ "$ns" != "$self" ] || { kill "$pid" 2>/dev/null; echo "userns-root.sh: unshare --user did not start" >&2; exit 1; }
echo '0 0 65536' > "/proc/$pid/uid_map"
echo '0 0 65536' > "/proc/$pid/gid_map"
echo go > "$dir/go"
rc=0; wait "$pid" || rc=$?
exit "$rc"
