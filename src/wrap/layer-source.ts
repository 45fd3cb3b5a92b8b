// Composition of the real xbuild layer: emulator (from --qemu-dir or the
// per-user cache) + the shims' entries. The CLI builds a LayerSource from this;
// tests inject their own. No process access: env comes in as a parameter.
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { LayerEntry } from '../layer/entry.ts';
import { readBuildRecord, resolveEmulator } from '../qemu/cache.ts';
import { type QemuArch } from '../oci/platform.ts';
import type { XbuildLayerInputs } from '../shims/layer.ts';
import type { LayerSource } from './wrap.ts';

export interface EmulatorLookup {
  qemuDir?: string;
  env: Record<string, string | undefined>;
}

/** Path of qemu-<arch>-static: --qemu-dir, else the newest cache entry built from the current patch series. */
export async function findEmulator(arch: QemuArch, lookup: EmulatorLookup): Promise<string> {
  return resolveEmulator(arch, { env: lookup.env, ...(lookup.qemuDir ? { qemuDir: lookup.qemuDir } : {}) });
}

/** The QEMU version: from the cache entry's build.json, else "7.2.13" from `qemu-arm-static --version` ("qemu-arm version 7.2.13 (Debian ...)"). */
export async function emulatorVersion(path: string): Promise<string> {
  const record = await readBuildRecord(dirname(path));
  if (record?.qemu?.version) return record.qemu.version;
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
  /** Emulator path by a lookup of the caller's (src/install/lookup.ts in the CLI); default: findEmulator. */
  emulatorPath?: (arch: QemuArch) => Promise<string>;
  /** Host-native shim binary (a path, or a function building/finding it); default: `xbuild-shim` beside the emulator. */
  shimPath?: string | (() => Promise<string>);
  /**
   * wrap --extra-emulators: sibling emulators added beside the image's own (an
   * arm64 image holding 32-bit ARM programs gets qemu-arm-static; the aarch64
   * emulator hands such programs to it, patches/0010). The image's own target is skipped.
   */
  extraEmulators?: QemuArch[];
}

export function xbuildLayerSource(opts: XbuildLayerSourceOptions): LayerSource {
  return async (arch) => {
    const emulatorPath = opts.emulatorPath ? await opts.emulatorPath(arch) : await findEmulator(arch, opts);
    const shimPath = typeof opts.shimPath === 'function' ? await opts.shimPath() : opts.shimPath ?? join(emulatorPath, '..', 'xbuild-shim');
    const extra: Partial<Record<QemuArch, string>> = {};
    for (const a of opts.extraEmulators ?? []) {
      if (a !== arch) extra[a] = opts.emulatorPath ? await opts.emulatorPath(a) : await findEmulator(a, opts);
    }
    const entries = await opts.entries({ arch, emulatorPath, shimPath, ...(Object.keys(extra).length ? { extraEmulators: extra } : {}) });
    return { entries, qemuVersion: await emulatorVersion(emulatorPath) };
  };
}
