// Rootless Docker for test/e2e-rootless.test.ts: Debian's
// dockerd-rootless.sh started as the unprivileged test user, exactly as a
// user would run it (docs/builders.md "Rootless Docker"): rootlesskit with
// the host's network (rootlesskit's slirp4netns needs /dev/net/tun, which is
// 0600 root here), dockerd with overlay2 under the user's HOME, the socket
// in XDG_RUNTIME_DIR. Builds use BuildKit with --network=host: the legacy
// builder cannot create its sandbox in a daemon that shares the host's
// network namespace (ROOTLESS_LEGACY_BUILDER_ERROR).
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requireTool } from './e2e-exec.ts';
import type { RootlessSession } from './rootless-session.ts';

export const DOCKERD_ROOTLESS = '/usr/share/docker.io/contrib/dockerd-rootless.sh';
/** Debian's client: /usr/local/bin/docker on this machine (first on the user's PATH) is another one. */
export const DOCKER_CLIENT = '/usr/bin/docker';
/** What the legacy builder prints for the first RUN under rootlesskit --net=host (docs/builders.md). */
export const ROOTLESS_LEGACY_BUILDER_ERROR = /failed to create default sandbox: failed to create a netlink handle: failed to set into network namespace \d+ while creating netlink socket: operation not permitted/;

export interface RootlessDockerd {
  /** the client's environment: DOCKER_HOST on the user's socket */
  env: NodeJS.ProcessEnv;
  startMs: number;
  log(): Promise<string>;
  stop(): Promise<void>;
}

/** The daemon's flags after dockerd-rootless.sh (which adds rootlesskit and re-executes itself inside it). */
export function dockerdArgs(s: Pick<RootlessSession, 'home' | 'env'>): string[] {
  const xdg = s.env.XDG_RUNTIME_DIR!;
  return ['--data-root', join(s.home, '.local/share/docker'), '--exec-root', join(xdg, 'docker'),
    '-H', `unix://${join(xdg, 'docker.sock')}`, '--pidfile', join(xdg, 'docker.pid'),
    '--iptables=false', '--ip6tables=false', '--bridge=none', '--ip-forward=false', '--storage-driver', 'overlay2'];
}

/** rootlesskit's settings, as environment variables of dockerd-rootless.sh. */
export const ROOTLESSKIT_ENV = { DOCKERD_ROOTLESS_ROOTLESSKIT_NET: 'host', DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER: 'none' };

/** Starts dockerd-rootless.sh as the user (log in XDG_RUNTIME_DIR); resolves when `docker version` answers. */
export async function startRootlessDockerd(s: RootlessSession, timeoutMs = 90_000): Promise<RootlessDockerd> {
  for (const [p, pkg] of [[DOCKERD_ROOTLESS, 'docker.io'], ['/usr/bin/rootlesskit', 'rootlesskit'], [DOCKER_CLIENT, 'docker.io']] as const) await requireTool(p, pkg);
  const xdg = s.env.XDG_RUNTIME_DIR!;
  const logPath = join(xdg, 'dockerd-rootless.log');
  const fd = openSync(logPath, 'w');
  const t0 = Date.now();
  const child = spawn('/usr/bin/setpriv', [`--reuid=${s.user.uid}`, `--regid=${s.user.gid}`, '--clear-groups', '--inh-caps=-all', '--',
    DOCKERD_ROOTLESS, ...dockerdArgs(s)], { env: { ...s.env, ...ROOTLESSKIT_ENV }, cwd: s.home, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let exited: string | undefined;
  const exit = new Promise<void>((res) => child.on('exit', (code, sig) => { exited = `exited ${code ?? sig}`; res(); }));
  child.on('error', (e) => { exited = `could not start: ${e.message}`; });
  const env = { DOCKER_HOST: `unix://${join(xdg, 'docker.sock')}` };
  const log = () => readFile(logPath, 'utf8').catch(() => '');
  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM'); // setpriv execs the script, which execs rootlesskit: this is rootlesskit's pid
    const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exit;
    clearTimeout(t);
  };
  for (;;) {
    const tail = async () => (await log()).trimEnd().split('\n').slice(-15).join('\n');
    if (exited) throw new Error(`dockerd-rootless.sh ${exited} before answering; log tail:\n${await tail()}`);
    const r = await s.sh(`${DOCKER_CLIENT} version --format '{{.Server.Version}}'`, env, 5000);
    if (r.code === 0) break;
    if (Date.now() - t0 > timeoutMs) {
      await stop();
      throw new Error(`rootless dockerd did not answer within ${timeoutMs} ms; log tail:\n${await tail()}`);
    }
    await new Promise((r2) => setTimeout(r2, 300));
  }
  return { env, startMs: Date.now() - t0, log, stop };
}

const daemons = new WeakMap<RootlessSession, Promise<RootlessDockerd>>();

/** The session's rootless dockerd, started on first use. */
export function rootlessDockerd(s: RootlessSession): Promise<RootlessDockerd> {
  let d = daemons.get(s);
  if (!d) {
    d = startRootlessDockerd(s);
    daemons.set(s, d);
    d.catch(() => daemons.delete(s));
  }
  return d;
}

/** Stops the session's rootless dockerd if one was started (the session's stop then kills whatever is left). */
export async function stopRootlessDockerd(s: RootlessSession): Promise<void> {
  const d = daemons.get(s);
  daemons.delete(s);
  await (await d?.catch(() => undefined))?.stop();
}
