// A throw-away CNCF distribution registry (Debian's docker-registry) on
// 127.0.0.1 for the end-to-end tests. Builders treat loopback registries as
// plain-HTTP/insecure, as xbuild does.
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { openSync, closeSync } from 'node:fs';
import { requireTool } from './e2e-exec.ts';

export const DOCKER_REGISTRY = '/usr/bin/docker-registry';

export interface E2eRegistry { host: string; stop(): Promise<void> }

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => { const a = s.address(); s.close(() => res(typeof a === 'object' && a ? a.port : 0)); });
  });
}

export async function startE2eRegistry(): Promise<E2eRegistry> {
  await requireTool(DOCKER_REGISTRY, 'docker-registry');
  const dir = await mkdtemp(join(tmpdir(), 'xb-registry-'));
  const port = await freePort();
  const conf = join(dir, 'config.yml');
  await writeFile(conf, [
    'version: 0.1', 'log:', '  level: warn', 'storage:', '  filesystem:', `    rootdirectory: ${dir}/data`,
    '  delete:', '    enabled: true', 'http:', `  addr: 127.0.0.1:${port}`, '',
  ].join('\n'));
  const logPath = join(dir, 'registry.log');
  const fd = openSync(logPath, 'w');
  const child = spawn(DOCKER_REGISTRY, ['serve', conf], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let exited = false;
  const exitP = new Promise<void>((r) => child.on('exit', () => { exited = true; r(); }));
  const stop = async () => {
    if (!exited) { child.kill('SIGTERM'); await exitP; }
    await rm(dir, { recursive: true, force: true });
  };
  const host = `127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ok = await fetch(`http://${host}/v2/`).then((r) => r.ok, () => false);
    if (ok) return { host, stop };
    if (exited || Date.now() > deadline) {
      const l = await readFile(logPath, 'utf8').catch(() => '');
      await stop();
      throw new Error(`docker-registry did not answer on ${host}${exited ? ' (it exited)' : ''}: ${l.trim().split('\n').slice(-5).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
