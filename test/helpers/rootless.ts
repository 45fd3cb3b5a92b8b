// An unprivileged builder user for the rootless end-to-end tests: a system
// user with subordinate uid/gid ranges (/etc/subuid, /etc/subgid, used by
// the setuid newuidmap/newgidmap of Debian's `uidmap`), created once and
// reused; commands run as that user with a given environment only (no
// capabilities, no supplementary groups); afterwards every process of the
// user is killed (by pid) and what the builders left is removed.
import { execFile } from 'node:child_process';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { run, type RunResult } from './e2e-exec.ts';

const exec = promisify(execFile);

export const ROOTLESS_USER = 'xbuild-rootless';
/** 65536 subordinate ids, as `useradd` gives a regular user; kept clear of useradd's default pool (100000..). */
export const SUBID_START = 400000;
export const SUBID_COUNT = 65536;

export interface RootlessUser { name: string; uid: number; gid: number }

async function ids(name: string): Promise<RootlessUser> {
  const [u, g] = await Promise.all([exec('id', ['-u', name]), exec('id', ['-g', name])]);
  return { name, uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
}

async function hasRange(file: string, name: string): Promise<boolean> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').some((l) => l.startsWith(`${name}:`) && Number(l.split(':')[2]) >= SUBID_COUNT);
}

/** The test user (created if missing, with subordinate ranges added if missing; idempotent). */
export async function rootlessUser(name = ROOTLESS_USER): Promise<RootlessUser> {
  for (const tool of ['/usr/bin/newuidmap', '/usr/bin/newgidmap']) {
    const st = await stat(tool).catch(() => undefined);
    if (!st || (st.mode & 0o4000) === 0 || st.uid !== 0) throw new Error(`${tool} is missing or not setuid root: install Debian's uidmap (scripts/install-system-deps.sh)`);
  }
  await ids(name).catch(async () => {
    await exec('useradd', ['--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', name])
      .catch(async (e) => { await ids(name).catch(() => { throw e; }); }); // a parallel test created it first
  });
  const range = `${SUBID_START}-${SUBID_START + SUBID_COUNT - 1}`;
  const add: string[] = [];
  if (!(await hasRange('/etc/subuid', name))) add.push('--add-subuids', range);
  if (!(await hasRange('/etc/subgid', name))) add.push('--add-subgids', range);
  if (add.length) await exec('usermod', [...add, name]);
  return ids(name);
}

/** Runs CMD as the user with exactly ENV (plus nothing inherited), in CWD. */
export function asUser(user: RootlessUser, env: NodeJS.ProcessEnv, cwd: string, cmd: string[], timeoutMs = 30 * 60_000): Promise<RunResult> {
  return run('/usr/bin/setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--inh-caps=-all', '--', ...cmd],
    { env, cwd, timeoutMs });
}

/** Pids of every process whose real uid is the user's (builders, rootlesskit, slirp4netns, catatonit, ...). */
export async function userPids(user: RootlessUser): Promise<number[]> {
  const pids: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const status = await readFile(join('/proc', d, 'status'), 'utf8').catch(() => '');
    const m = /^Uid:\s+(\d+)/m.exec(status);
    if (m && Number(m[1]) === user.uid) pids.push(Number(d));
  }
  return pids;
}

/** Kills the user's processes (by pid, SIGKILL after a grace period) and removes DIRS (storage, HOME, runtime dir). */
export async function cleanupUser(user: RootlessUser, dirs: string[]): Promise<void> {
  for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
    const pids = await userPids(user);
    for (const p of pids) { try { process.kill(p, sig); } catch { /* gone */ } }
    for (let i = 0; i < 30 && (await userPids(user)).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  }
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  for (const dir of dirs) {
    const points = info.split('\n').map((l) => l.split(' ')[4]).filter((p): p is string => !!p && p.startsWith(`${dir}/`))
      .sort((a, b) => b.length - a.length);
    for (const p of points) await run('umount', ['-l', p]);
    await rm(dir, { recursive: true, force: true });
  }
}
