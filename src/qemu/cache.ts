// Where built emulators live, and how wrap finds them.
//
// Layout (the build side writes, wrap only reads):
//   cache root:  cacheRoot() of src/cache-root.ts
//   emulators:   <root>/qemu/<key>/qemu-<qemu-arch>-static   (+ build.json describing inputs)
//   shim:        <root>/shim/<key>/xbuild-shim               (host-native static /bin/sh shim: src/shims/build.ts ensureShim)
//   `--qemu-dir DIR` replaces the lookup with a directory holding the same file names.
import { constants } from 'node:fs';
import { access, readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { XbuildError } from '../errors.ts';
import { cacheRoot, type Env } from '../cache-root.ts';
import type { QemuArch } from '../oci/platform.ts';
import { emulatorFileName } from '../contract/in-image.ts';
import { readSeries } from './series.ts';
import type { EmulatorBuildOptions } from './key.ts';
import type { ProfileUse } from './pgo.ts';


/** <root>/qemu: one directory per build key. */
export function qemuCacheDir(env: Env): string {
  return join(cacheRoot(env), 'qemu');
}

export const BUILD_RECORD = 'build.json';
export const BUILD_LOG = 'build.log';

/** build.json: what a cache entry was built from and what it holds. */
export interface BuildRecord {
  schema: 1;
  key: string;
  /** ISO time the entry was completed. */
  builtAt: string;
  buildSeconds: number;
  qemu: { version: string; source: { kind: string; path: string; sha256: string } };
  series: { version: number; hash: string; patches: { name: string; sha256: string }[] };
  targets: QemuArch[];
  buildOptions: EmulatorBuildOptions;
  /** The gcc profile: used (with gcc's count of coverage-mismatch warnings), not used and why, or an instrumented build. */
  profile?: ProfileUse;
  toolchain: Record<string, string>;
  outputs: Record<string, { sha256: string; size: number }>;
}

export interface CacheEntry { dir: string; record: BuildRecord }

/** Complete cache entries (a readable build.json whose outputs all exist), newest first. */
export async function listCacheEntries(env: Env): Promise<CacheEntry[]> {
  const base = qemuCacheDir(env);
  let names: string[];
  try {
    names = await readdir(base);
  } catch {
    return [];
  }
  const entries: CacheEntry[] = [];
  for (const name of names) {
    if (name.startsWith('.')) continue; // temp dirs of builds in progress
    const dir = join(base, name);
    const record = await readBuildRecord(dir);
    if (!record || record.key !== name) continue;
    const present = await Promise.all(Object.keys(record.outputs).map((f) => isExecutable(join(dir, f))));
    if (present.every(Boolean)) entries.push({ dir, record });
  }
  return entries.sort((a, b) => b.record.builtAt.localeCompare(a.record.builtAt));
}

export async function readBuildRecord(dir: string): Promise<BuildRecord | undefined> {
  try {
    const rec = JSON.parse(await readFile(join(dir, BUILD_RECORD), 'utf8')) as BuildRecord;
    return rec.schema === 1 && typeof rec.key === 'string' && rec.outputs ? rec : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The newest complete cache entry built from the given patch series (default:
 * the series shipped with this installation) that holds the emulator for arch.
 */
export async function findEmulatorDir(arch: QemuArch, opts: { env: Env; seriesHash?: string }): Promise<string | undefined> {
  const seriesHash = opts.seriesHash ?? (await readSeries()).hash;
  const file = emulatorFileName(arch);
  for (const e of await listCacheEntries(opts.env)) {
    if (e.record.series.hash === seriesHash && e.record.outputs[file]) return e.dir;
  }
  return undefined;
}

/**
 * Path of qemu-<arch>-static: from `qemuDir` (--qemu-dir) when given, else from
 * the newest cache entry built from the current patch series.
 */
export async function resolveEmulator(arch: QemuArch, opts: { qemuDir?: string; env: Env; seriesHash?: string }): Promise<string> {
  const file = emulatorFileName(arch);
  const hint = 'run `xbuild qemu build` or pass --qemu-dir DIR';
  if (opts.qemuDir) {
    const p = join(resolve(opts.qemuDir), file);
    if (await isExecutable(p)) return p;
    throw new XbuildError('NO_EMULATOR', `no ${file} (emulator for ${arch}) in --qemu-dir ${opts.qemuDir}`, { hint });
  }
  const dir = await findEmulatorDir(arch, opts);
  if (!dir) {
    throw new XbuildError('NO_EMULATOR', `no ${file} (emulator for ${arch}) built from the current patch series in ${qemuCacheDir(opts.env)}`, { hint });
  }
  return join(dir, file);
}

async function isExecutable(p: string): Promise<boolean> {
  try {
    await access(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
