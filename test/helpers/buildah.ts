// Runs Debian's buildah the way an unprivileged CI builder would: chroot
// isolation (no runc/namespaces setup needed from the host), vfs storage,
// private --root/--runroot so tests never touch /var/lib/containers.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, requireTool, type RunOptions, type RunResult } from './e2e-exec.ts';
import { unmountUnder } from './e2e-mounts.ts';

export const BUILDAH = '/usr/bin/buildah';

export interface Buildah {
  dir: string;
  /** Runs `buildah --root .. --runroot .. --storage-driver vfs ARGS`. */
  buildah(args: string[], opts?: RunOptions): Promise<RunResult>;
  /** `bud --isolation chroot --network host --tls-verify=false` + extra args, context dir last. */
  bud(contextDir: string, args: string[], opts?: RunOptions): Promise<RunResult>;
  push(ref: string, opts?: RunOptions): Promise<RunResult>;
  cleanup(): Promise<void>;
}

export async function startBuildah(): Promise<Buildah> {
  await requireTool(BUILDAH, 'buildah');
  const dir = await mkdtemp(join(tmpdir(), 'xb-buildah-'));
  // A registries.conf of our own: no short-name aliases or mirrors from the host.
  const conf = join(dir, 'registries.conf');
  await writeFile(conf, 'unqualified-search-registries = []\n');
  const env = { ...process.env, REGISTRIES_CONFIG_PATH: conf, BUILDAH_ISOLATION: 'chroot', TMPDIR: dir };
  const base = ['--root', join(dir, 'root'), '--runroot', join(dir, 'run'), '--storage-driver', 'vfs'];
  const buildah = (args: string[], o: RunOptions = {}) =>
    run(BUILDAH, [...base, ...args], { ...o, env: { ...env, ...(o.env ?? {}) } });
  return {
    dir,
    buildah,
    bud: (ctx, args, o) => buildah(['bud', '--isolation', 'chroot', '--network', 'host', '--tls-verify=false', ...args, ctx], o),
    push: (ref, o) => buildah(['push', '--tls-verify=false', ref, `docker://${ref}`], o),
    cleanup: async () => {
      await buildah(['rm', '--all']);
      await unmountUnder(dir);
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}
