// Finds the patched (execve-intercepting) static emulators the tests run.
//
// Order: $XBUILD_QEMU_DIR/qemu-<arch>-static if XBUILD_QEMU_DIR is set; else
// resolveEmulator() from src/qemu/cache.ts (the newest cache entry built from the
// current patch series, as wrap finds it). Missing emulators are a test FAILURE
// with instructions, never a skip.
import { readFile } from 'node:fs/promises';
import { resolveEmulator } from '../../src/qemu/cache.ts';
import { type QemuArch } from '../../src/oci/platform.ts';

/** Path of the patched qemu-<arch>-static; throws a clear error when there is none. */
export async function findEmulator(arch: QemuArch, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  try {
    return await resolveEmulator(arch, { qemuDir: env.XBUILD_QEMU_DIR || undefined, env });
  } catch (err) {
    const e = err as Error & { hint?: string };
    throw new Error(`${e.message}${e.hint ? ` (${e.hint})` : ''}; tests can also take XBUILD_QEMU_DIR=DIR holding qemu-${arch}-static`);
  }
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
