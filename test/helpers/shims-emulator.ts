// The patched, execve-intercepting emulators the shim tests run, and Debian's
// stock one (for the "not xbuild's emulator" refusal). The patched ones are
// built by issue 2's recipe into <cache>/qemu/<key>/qemu-<arch>-static; a test
// that needs one fails with a clear message when it is missing.
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import type { QemuArch } from '../../src/oci/platform.ts';
import { NT_XBUILD_EXECVE, XBUILD_NOTE_NAME } from '../../src/contract/in-image.ts';
import { findNote, inspectElf } from '../../src/elf/inspect.ts';
import { cacheRoot } from './shims-roots.ts';
import { findEmulator } from './emulators.ts';

const run = promisify(execFile);

export async function hasExecveNote(path: string): Promise<boolean> {
  try {
    return findNote(inspectElf(await readFile(path), path), XBUILD_NOTE_NAME, NT_XBUILD_EXECVE) !== undefined;
  } catch {
    return false;
  }
}

/**
 * Host path of the patched qemu-<arch>-static (test/helpers/emulators.ts: $XBUILD_QEMU_DIR, else
 * the cache), checked to carry the xbuild execve note that cross-build-start requires.
 */
export async function patchedEmulator(arch: QemuArch): Promise<string> {
  const p = await findEmulator(arch);
  if (!await hasExecveNote(p)) throw new Error(`${p} lacks the xbuild execve-intercept note: it is not xbuild's patched emulator`);
  return p;
}

/** Debian's stock qemu-<arch>-static (no execve interception), extracted from the .deb, never installed. */
export async function stockEmulator(arch: QemuArch): Promise<string> {
  const dir = join(cacheRoot(), 'fixtures', 'qemu-user-static-stock');
  const p = join(dir, 'usr', 'bin', `qemu-${arch}-static`);
  if (await stat(p).then(() => true, () => false)) return p;
  const tmp = `${dir}.tmp-${randomBytes(4).toString('hex')}`;
  await mkdir(tmp, { recursive: true });
  try {
    await run('apt-get', ['-o', 'DPkg::Lock::Timeout=600', '-q', 'download', 'qemu-user-static'], { cwd: tmp });
    const deb = (await readdir(tmp)).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error('apt-get download qemu-user-static gave no .deb');
    await run('dpkg-deb', ['-x', join(tmp, deb), join(tmp, 'root')]);
    await rename(join(tmp, 'root'), dir).catch(async (err) => {
      if (!await stat(p).then(() => true, () => false)) throw err;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return p;
}
