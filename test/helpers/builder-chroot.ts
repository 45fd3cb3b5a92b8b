// Runs a command in a root tree set up the way container builders set up a
// RUN step's root (buildah --isolation chroot, runc): in a private mount
// namespace, the root is a mount point of its own (a bind mount onto itself, so
// mount(2) on "/" works inside, as in a container), /proc is a fresh procfs,
// /dev a small tmpfs holding the usual device nodes (bound from the host) and
// the /dev/fd, /dev/stdin, /dev/stdout, /dev/stderr links into /proc/self/fd.
// The host's mount table is never touched (the namespace dies with the run).
// runInBuilderOverlay does the same on a writable overlay of a read-only tree
// (a cached fixture), so a run can write without copying the tree first.
import { GUEST_PATH, runHost, type RunResult } from './guest.ts';

export interface BuilderRunOptions {
  /** Working directory inside the root (default /). */
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

const SETUP = [
  'set -e',
  'r=$1; wd=$2; shift 2',
  'mount --bind "$r" "$r"',
  'mount -t proc proc "$r/proc"',
  'mount -t tmpfs -o mode=755,nosuid tmpfs "$r/dev"',
  'for n in null zero full random urandom tty; do : > "$r/dev/$n"; mount --bind "/dev/$n" "$r/dev/$n"; done',
  'ln -s /proc/self/fd "$r/dev/fd"',
  'ln -s /proc/self/fd/0 "$r/dev/stdin"; ln -s /proc/self/fd/1 "$r/dev/stdout"; ln -s /proc/self/fd/2 "$r/dev/stderr"',
  'mkdir -p "$r/dev/pts" "$r/dev/shm"',
  'exec unshare --root="$r" --wd="$wd" "$@"',
].join('; ');

/** Runs `cmd` (paths inside the root) in ROOT as a builder's RUN step would. */
export function runInBuilderRoot(root: string, cmd: string[], opts: BuilderRunOptions = {}): Promise<RunResult> {
  const env: Record<string, string> = { PATH: GUEST_PATH, HOME: '/root', LC_ALL: 'C', ...(opts.env ?? {}) };
  return runHost(['/usr/bin/unshare', '--mount', '--fork', '--', '/bin/sh', '-c', SETUP, 'sh', root, opts.cwd ?? '/', ...cmd],
    { env, timeoutMs: opts.timeoutMs });
}

/** A host file put into the overlay before the run: [host path, path inside the root] (mode 0755). */
export type OverlayFile = [string, string];

// The overlay's upper and work directories live on a tmpfs mounted over /mnt of the
// private namespace (the host's /mnt is untouched; LOWER must not be under /mnt).
const OVERLAY = [
  'set -e',
  'lower=$1; shift',
  'mount -t tmpfs -o mode=755 tmpfs /mnt; mkdir /mnt/up /mnt/work /mnt/root',
  'mount -t overlay overlay -o "lowerdir=$lower,upperdir=/mnt/up,workdir=/mnt/work" /mnt/root',
  'while [ "$1" != -- ]; do mkdir -p "/mnt/root/${2%/*}"; install -m 0755 "$1" "/mnt/root/$2"; shift 2; done; shift',
  'set -- /mnt/root "$@"',
].join('; ');

/** Like runInBuilderRoot, on a throw-away writable overlay of the read-only tree LOWER holding FILES too. */
export function runInBuilderOverlay(lower: string, files: OverlayFile[], cmd: string[], opts: BuilderRunOptions = {}): Promise<RunResult> {
  const env: Record<string, string> = { PATH: GUEST_PATH, HOME: '/root', LC_ALL: 'C', ...(opts.env ?? {}) };
  return runHost(['/usr/bin/unshare', '--mount', '--fork', '--', '/bin/sh', '-c', `${OVERLAY}; ${SETUP}`, 'sh', lower, ...files.flat(), '--', opts.cwd ?? '/', ...cmd],
    { env, timeoutMs: opts.timeoutMs });
}
