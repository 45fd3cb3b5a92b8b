// Image cases for verify tests: a Debian-like ARM root file system made of
// real Debian binaries (dash, busybox), and the xbuild layer (emulator + shims).
//
// The xbuild layer uses, in order of preference:
//  - the real shim from the shim build cache (${XBUILD_CACHE_DIR:-~/.cache/xbuild}/shim/*/xbuild-shim)
//    and the real patched emulator from the qemu cache (qemu/*/qemu-<arch>-static) when they exist;
//  - otherwise the gcc-built stand-ins from scripts/fixtures/elf-samples.sh that carry the
//    same ELF notes (static x86_64, note "xbuild" type 1 / type 2).
// `xbuildParts()` says which were used so a test can log it.
import { readFile, readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CROSS_BUILD_END, CROSS_BUILD_START, emulatorInImage } from '../../src/shims/contract.ts';
import type { QemuArch } from '../../src/qemu/cache.ts';
import { elfSample } from './elf-samples.ts';
import type { TarSpec } from './mem-image.ts';

const cacheRoot = () => process.env.XBUILD_CACHE_DIR ?? join(homedir(), '.cache', 'xbuild');

async function newestIn(dir: string, file: string): Promise<string | undefined> {
  let best: { p: string; t: number } | undefined;
  for (const d of await readdir(dir).catch(() => [] as string[])) {
    const p = join(dir, d, file);
    const s = await stat(p).catch(() => undefined);
    if (s?.isFile() && (!best || s.mtimeMs > best.t)) best = { p, t: s.mtimeMs };
  }
  return best?.p;
}

export interface XbuildParts { emulator: Buffer; shim: Buffer; emulatorFrom: string; shimFrom: string }

export async function xbuildParts(arch: QemuArch): Promise<XbuildParts> {
  const realShim = await newestIn(join(cacheRoot(), 'shim'), 'xbuild-shim');
  const realEmu = await newestIn(join(cacheRoot(), 'qemu'), `qemu-${arch}-static`);
  const shimFrom = realShim ?? await elfSample('synthetic/x86_64-xbuild-note2');
  const emulatorFrom = realEmu ?? await elfSample('synthetic/x86_64-xbuild-note1');
  return { emulator: await readFile(emulatorFrom), shim: await readFile(shimFrom), emulatorFrom, shimFrom };
}

/** The xbuild layer's files (paths from src/shims/contract.ts). */
export function xbuildLayer(arch: QemuArch, parts: { emulator: Buffer; shim: Buffer }): TarSpec[] {
  const entries: TarSpec[] = [
    { name: 'usr/', type: 'directory' },
    { name: 'usr/bin/', type: 'directory' },
    { name: 'usr/bin/cross-build-end', content: parts.shim, mode: 0o755 },
    { name: 'usr/bin/cross-build-start', content: parts.shim, mode: 0o755 },
    { name: emulatorInImage(arch), content: parts.emulator, mode: 0o755 },
  ];
  return entries.sort((a, b) => a.name.localeCompare(b.name));
}

/** A merged-/usr Debian-like root: bin -> usr/bin, sh -> dash, busybox, /etc/shells. */
export async function debianLikeRoot(debArch: 'armhf' | 'armel' | 'arm64'): Promise<TarSpec[]> {
  const dash = await readFile(await elfSample(`${debArch}/dash`));
  const busybox = await readFile(await elfSample(`${debArch}/busybox`));
  return [
    { name: 'bin', type: 'symlink', linkname: 'usr/bin' },
    { name: 'etc/', type: 'directory' },
    { name: 'etc/shells', content: '# /etc/shells: valid login shells\n/bin/sh\n/usr/bin/sh\n/bin/dash\n/usr/bin/dash\n' },
    { name: 'usr/', type: 'directory' },
    { name: 'usr/bin/', type: 'directory' },
    { name: 'usr/bin/busybox', content: busybox, mode: 0o755 },
    { name: 'usr/bin/dash', content: dash, mode: 0o755 },
    { name: 'usr/bin/sh', type: 'symlink', linkname: 'dash' },
  ];
}

export { CROSS_BUILD_START, CROSS_BUILD_END };
