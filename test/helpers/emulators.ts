// Finds the patched (execve-intercepting) static emulators the tests run.
//
// Order: $XBUILD_QEMU_DIR/qemu-<arch>-static if XBUILD_QEMU_DIR is set; else
// resolveEmulator() from src/qemu/cache.ts once the build driver provides it;
// else the newest <cache>/qemu/<key>/qemu-<arch>-static. Missing emulators are a
// test FAILURE with instructions, never a skip.
import { access, constants, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as cache from '../../src/qemu/cache.ts';
import type { QemuArch } from '../../src/qemu/cache.ts';

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.XBUILD_CACHE_DIR) return env.XBUILD_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(env.HOME || '/root', '.cache'), 'xbuild');
}

async function isExecutable(p: string): Promise<boolean> {
  try {
    await access(p, constants.X_OK);
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

type Resolver = (arch: QemuArch, opts: { env: NodeJS.ProcessEnv }) => unknown;

/** Path of the patched qemu-<arch>-static; throws a clear error when there is none. */
export async function findEmulator(arch: QemuArch, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const name = `qemu-${arch}-static`;
  if (env.XBUILD_QEMU_DIR) {
    const p = join(env.XBUILD_QEMU_DIR, name);
    if (await isExecutable(p)) return p;
    throw new Error(`XBUILD_QEMU_DIR=${env.XBUILD_QEMU_DIR} has no executable ${name}`);
  }
  const resolve = (cache as Record<string, unknown>).resolveEmulator as Resolver | undefined;
  if (typeof resolve === 'function') {
    const r = await resolve(arch, { env });
    const p = typeof r === 'string' ? r : (r as { path?: unknown } | undefined)?.path;
    if (typeof p === 'string' && (await isExecutable(p))) return p;
  }
  const dir = join(cacheRoot(env), 'qemu');
  let best: { p: string; mtime: number } | undefined;
  for (const key of await readdir(dir).catch(() => [] as string[])) {
    const p = join(dir, key, name);
    if (!(await isExecutable(p))) continue;
    const mtime = (await stat(p)).mtimeMs;
    if (!best || mtime > best.mtime) best = { p, mtime };
  }
  if (best) return best.p;
  throw new Error(
    `no patched ${name} found (looked in XBUILD_QEMU_DIR, then ${dir}/*/${name}): ` +
      'build it with `xbuild qemu build` (or bash scripts/setup.sh), or point XBUILD_QEMU_DIR at a directory holding it',
  );
}

/** The ASCII payload of the emulator's "xbuild" ELF note of type 1, found by a byte scan; undefined if absent. */
export async function emulatorMarker(path: string): Promise<string | undefined> {
  const buf = await readFile(path);
  // Elf note: namesz(4) descsz(4) type(4) "xbuild\0" padded to 8, then desc.
  const name = Buffer.from('xbuild\0\0');
  for (let i = buf.indexOf(name); i >= 12; i = buf.indexOf(name, i + 1)) {
    const namesz = buf.readUInt32LE(i - 12);
    const descsz = buf.readUInt32LE(i - 8);
    const type = buf.readUInt32LE(i - 4);
    if (namesz === 7 && type === 1 && descsz > 0 && descsz < 4096) {
      return buf.subarray(i + 8, i + 8 + descsz).toString('latin1').replace(/\0+$/, '');
    }
  }
  return undefined;
}
