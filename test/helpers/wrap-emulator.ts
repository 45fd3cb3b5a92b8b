// A --qemu-dir for `xbuild wrap` in tests: the real patched emulator when it
// has been built (findEmulator), else the gcc-built stand-in of
// scripts/fixtures/elf-samples.sh that carries the same ELF note (static
// x86_64, note "xbuild" type 1), which verify accepts as the emulator.
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { elfSample } from './elf-samples.ts';
import { findEmulator } from './emulators.ts';

export async function wrapEmulatorDir(arch: 'arm' | 'aarch64', onCleanup: (f: () => Promise<void>) => void): Promise<string> {
  const real = await findEmulator(arch).catch(() => undefined);
  if (real) return dirname(real);
  const dir = await mkdtemp(join(tmpdir(), 'xbuild-qemu-standin-'));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  await copyFile(await elfSample('synthetic/x86_64-xbuild-note1'), join(dir, `qemu-${arch}-static`));
  return dir;
}
