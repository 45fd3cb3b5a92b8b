// Composition of the real xbuild layer: emulator (from --qemu-dir or the
// per-user cache) + the shims' entries. The CLI builds a LayerSource from this;
// tests inject their own. No process access: env comes in as a parameter.
import { execFile } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LayerEntry } from '../layer/entry.ts';
import { XbuildError } from '../errors.ts';
import { emulatorFileName, type QemuArch } from '../qemu/cache.ts';
import type { XbuildLayerInputs } from '../shims/layer.ts';
import type { LayerSource } from './wrap.ts';

export interface EmulatorLookup {
  qemuDir?: string;
  env: Record<string, string | undefined>;
}

export function cacheRoot(env: Record<string, string | undefined>): string {
  if (env.XBUILD_CACHE_DIR) return env.XBUILD_CACHE_DIR;
  const base = env.XDG_CACHE_HOME || join(env.HOME || '/root', '.cache');
  return join(base, 'xbuild');
}

const isFile = (p: string) => stat(p).then((s) => s.isFile(), () => false);

/** Path of qemu-<arch>-static: --qemu-dir, else the newest cache entry that has it. */
export async function findEmulator(arch: QemuArch, lookup: EmulatorLookup): Promise<string> {
  const file = emulatorFileName(arch);
  if (lookup.qemuDir) {
    const p = join(lookup.qemuDir, file);
    if (await isFile(p)) return p;
    throw new XbuildError('NO_EMULATOR', `--qemu-dir ${lookup.qemuDir} has no ${file}`, { hint: `put ${file} there, or build it with \`xbuild qemu build --targets ${arch}\`` });
  }
  const root = join(cacheRoot(lookup.env), 'qemu');
  const keys = await readdir(root).catch(() => [] as string[]);
  const found: Array<{ p: string; t: number }> = [];
  for (const k of keys) {
    const p = join(root, k, file);
    const s = await stat(p).catch(() => undefined);
    if (s?.isFile()) found.push({ p, t: s.mtimeMs });
  }
  found.sort((a, b) => b.t - a.t);
  if (found[0]) return found[0].p;
  throw new XbuildError('NO_EMULATOR', `no ${file} in the xbuild cache (${root})`, {
    hint: `build it with \`xbuild qemu build --targets ${arch}\`, or pass --qemu-dir DIR holding ${file}`,
  });
}

/** "7.2.13" from `qemu-arm-static --version` ("qemu-arm version 7.2.13 (Debian ...)"). */
export async function emulatorVersion(path: string): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(path, ['--version'], { timeout: 10_000 });
    return /version\s+(\S+)/.exec(stdout)?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export interface XbuildLayerSourceOptions extends EmulatorLookup {
  /** The shims' entries for an architecture (src/shims/layer.ts xbuildLayerEntries in the CLI). */
  entries: (inputs: XbuildLayerInputs) => Promise<LayerEntry[]>;
  /** Host-native shim binary (a path, or a function building/finding it); default: `xbuild-shim` beside the emulator. */
  shimPath?: string | (() => Promise<string>);
}

export function xbuildLayerSource(opts: XbuildLayerSourceOptions): LayerSource {
  return async (arch) => {
    const emulatorPath = await findEmulator(arch, opts);
    const shimPath = typeof opts.shimPath === 'function' ? await opts.shimPath() : opts.shimPath ?? join(emulatorPath, '..', 'xbuild-shim');
    const entries = await opts.entries({ arch, emulatorPath, shimPath });
    return { entries, qemuVersion: await emulatorVersion(emulatorPath) };
  };
}
