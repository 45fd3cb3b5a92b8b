// A private dockerd (Debian's docker.io) for tests: its own data/exec root and
// unix socket under a temp dir, no iptables, no bridge; stopped by the test.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './small-images.ts';

export interface Dockerd { host: string; docker: (args: string[]) => Promise<{ stdout: string; stderr: string }>; stop: () => Promise<void> }

const DOCKER = '/usr/bin/docker';

export async function startDockerd(): Promise<Dockerd> {
  const dir = await mkdtemp(join(tmpdir(), 'xbuild-dockerd-'));
  const sock = join(dir, 'docker.sock');
  let log = '';
  const child: ChildProcess = spawn('dockerd', [
    '--iptables=false', '--bridge=none', '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'),
    '-H', `unix://${sock}`, '--pidfile', join(dir, 'pid'),
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => { log += d; });
  child.stderr!.on('data', (d) => { log += d; });
  const exited = new Promise<void>((res) => child.on('exit', () => res()));
  const host = `unix://${sock}`;
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited; clearTimeout(t);
    }
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  };
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) { await stop(); throw new Error(`dockerd exited: ${log.slice(-2000)}`); }
    if (await stat(sock).then(() => true, () => false)) {
      const ok = await run(DOCKER, ['-H', host, 'version']).then(() => true, () => false);
      if (ok) break;
    }
    if (Date.now() > deadline) { await stop(); throw new Error(`dockerd did not come up in 90s: ${log.slice(-2000)}`); }
    await new Promise((r) => setTimeout(r, 500));
  }
  return { host, docker: (args) => run(DOCKER, ['-H', host, ...args]), stop };
}
