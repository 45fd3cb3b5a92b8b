// Starts Debian's docker.io engine by hand in a private directory, for the
// end-to-end tests. No systemd, no iptables, no bridge: builds use
// `--network=host`. dockerd starts its own (managed) containerd under
// --exec-root, so nothing else has to be running. See docs/builders.md.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { run, requireTool, type RunOptions, type RunResult } from './e2e-exec.ts';
import { unmountUnder } from './e2e-mounts.ts';

export const DOCKERD = '/usr/sbin/dockerd';
/** Debian's client; /usr/local/bin/docker on this machine is a different one. */
export const DOCKER = '/usr/bin/docker';

export interface Dockerd {
  socket: string;
  dir: string;
  /** milliseconds from spawn until `docker version` answered */
  startMs: number;
  /** Runs Debian's docker client against this daemon (env merged over process.env). */
  docker(args: string[], opts?: RunOptions): Promise<RunResult>;
  /** The daemon's log so far (for error messages). */
  log(): Promise<string>;
  stop(): Promise<void>;
}

export interface DockerdOptions {
  /** overlay2 (default; works on this machine's ext4 /tmp) or vfs */
  storageDriver?: string;
  timeoutMs?: number;
}

export async function startDockerd(opts: DockerdOptions = {}): Promise<Dockerd> {
  await requireTool(DOCKERD, 'docker.io');
  await requireTool(DOCKER, 'docker.io');
  await requireTool('/usr/bin/containerd', 'containerd');
  // Short path: unix socket paths are limited to 107 bytes and containerd
  // puts its own sockets under exec-root.
  const dir = await mkdtemp(join(tmpdir(), 'xb-dockerd-'));
  const socket = join(dir, 'docker.sock');
  const logPath = join(dir, 'dockerd.log');
  const fd = openSync(logPath, 'w');
  const t0 = Date.now();
  const child: ChildProcess = spawn(DOCKERD, [
    '--iptables=false', '--ip6tables=false', '--bridge=none', '--ip-forward=false', '--ip-masq=false',
    '--storage-driver', opts.storageDriver ?? 'overlay2',
    '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'),
    '-H', `unix://${socket}`, '--pidfile', join(dir, 'dockerd.pid'),
  ], { stdio: ['ignore', fd, fd], detached: false });
  closeSync(fd);
  let exited: string | undefined;
  const exitPromise = new Promise<void>((res) => child.on('exit', (code, sig) => { exited = `exited ${code ?? sig}`; res(); }));
  child.on('error', (e) => { exited = `could not start: ${e.message}`; });

  const env = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(dir, 'client-config') };
  const docker = (args: string[], o: RunOptions = {}) =>
    run(DOCKER, ['-H', `unix://${socket}`, ...args], { ...o, env: { ...env, ...(o.env ?? {}) } });
  const log = () => readFile(logPath, 'utf8').catch(() => '');
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exitPromise;
      clearTimeout(t);
    }
    await unmountUnder(dir);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  };

  const deadline = t0 + (opts.timeoutMs ?? 60_000);
  for (;;) {
    if (exited) {
      const l = await log();
      await stop();
      throw new Error(`dockerd ${exited} before answering; log tail:\n${l.trimEnd().split('\n').slice(-15).join('\n')}`);
    }
    const r = await docker(['version', '--format', '{{.Server.Version}}'], { timeoutMs: 5000 });
    if (r.code === 0) break;
    if (Date.now() > deadline) {
      const l = await log();
      await stop();
      throw new Error(`dockerd did not answer on ${socket} within ${opts.timeoutMs ?? 60_000} ms; log tail:\n${l.trimEnd().split('\n').slice(-15).join('\n')}`);
    }
    await new Promise((r2) => setTimeout(r2, 200));
  }
  return { socket, dir, startMs: Date.now() - t0, docker, log, stop };
}
