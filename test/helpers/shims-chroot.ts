// Runs commands exactly as a builder does (`chroot ROOT argv...`) and
// snapshots trees so tests can prove a restore is byte-for-byte.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { TB_CACHE_DIR } from '../../src/contract/in-image.ts';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export const CHROOT_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root',
  LANG: 'C',
};

export interface ChrootOptions {
  input?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** A command run before `chroot` (e.g. ['unshare', '-r']); it must exec its arguments. */
  via?: string[];
  /** Options of chroot(8) itself (e.g. ['--userspec=65534:65534']). */
  chrootFlags?: string[];
  /** Called with the child once it runs (to send signals). */
  onSpawn?: (pid: number, stdout: () => string) => void;
}

/** `chroot root ...argv` with a clean environment; never throws for a non-zero exit. */
export function chrootRun(root: string, argv: string[], opts: ChrootOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const cmd = [...(opts.via ?? []), 'chroot', ...(opts.chrootFlags ?? []), root, ...argv];
    const child = spawn(cmd[0]!, cmd.slice(1), {
      env: { ...CHROOT_ENV, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
    child.stdin.on('error', () => { /* the command may not read its input */ });
    child.stdin.end(opts.input ?? '');
    if (opts.onSpawn && child.pid) opts.onSpawn(child.pid, () => stdout);
  });
}

export interface NodeFacts {
  type: 'file' | 'symlink' | 'dir' | 'other';
  mode: number;
  uid: number;
  gid: number;
  sha256?: string;
  linkname?: string;
  ino?: number;
  mtimeMs?: number;
}

/**
 * Every path of the tree (except `skip` top-level names) with type, mode, owner,
 * and content hash or symlink target; `strict` adds inode and mtime of files
 * and symlinks (to prove that nothing was touched at all).
 */
export async function snapshotTree(root: string, opts: { skip?: string[]; strict?: boolean } = {}): Promise<Map<string, NodeFacts>> {
  const skip = new Set(opts.skip ?? ['tmp', 'root', 'proc', 'dev']);
  const out = new Map<string, NodeFacts>();
  const walk = async (rel: string): Promise<void> => {
    const names = await readdir(join(root, rel));
    for (const n of names.sort()) {
      const r = rel ? `${rel}/${n}` : n;
      if (!rel && skip.has(n)) continue;
      const p = join(root, r);
      const st = await lstat(p);
      const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
      const strict = opts.strict ? { ino: st.ino, mtimeMs: st.mtimeMs } : {};
      if (st.isSymbolicLink()) out.set(r, { type: 'symlink', ...base, ...strict, linkname: await readlink(p) });
      else if (st.isFile()) out.set(r, { type: 'file', ...base, ...strict, sha256: createHash('sha256').update(await readFile(p)).digest('hex') });
      else if (st.isDirectory()) { out.set(r, { type: 'dir', ...base }); await walk(r); }
      else out.set(r, { type: 'other', ...base });
    }
  };
  await walk('');
  return out;
}

/**
 * A snapshot diff without the files added to the translation cache: cross-build-start
 * turns the emulator's -tb-cache on, and its stores stay in TB_CACHE_DIR after
 * cross-build-end by design (xbuild's directory: unwrap drops it).
 */
export function outsideTbCache(lines: string[]): string[] {
  return lines.filter((l) => !(l === `+ ${TB_CACHE_DIR}` || l.startsWith(`+ ${TB_CACHE_DIR}/`)));
}

/** Human-readable differences between two snapshots (empty when equal). */
export function diffSnapshots(a: Map<string, NodeFacts>, b: Map<string, NodeFacts>): string[] {
  const diffs: string[] = [];
  for (const [k, v] of a) {
    const w = b.get(k);
    if (!w) diffs.push(`- ${k}`);
    else if (JSON.stringify(v) !== JSON.stringify(w)) diffs.push(`~ ${k}: ${JSON.stringify(v)} -> ${JSON.stringify(w)}`);
  }
  for (const k of b.keys()) if (!a.has(k)) diffs.push(`+ ${k}`);
  return diffs;
}

// Two trees at a time: each chroot command starts an emulator, and the machine is small.
let running = 0;
const waiting: (() => void)[] = [];
/** Runs fn when fewer than two others started through slot() are still running. */
export async function slot<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= 2) await new Promise<void>((r) => waiting.push(r));
  running++;
  try { return await fn(); } finally { running--; waiting.shift()?.(); }
}
