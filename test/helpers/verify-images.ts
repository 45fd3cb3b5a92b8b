// Image cases for verify tests: a Debian-like ARM root file system made of
// real Debian binaries (dash, busybox), and the xbuild layer (emulator + shims).
//
// The xbuild layer is the real one: its entries come from xbuildLayerEntries
// (src/shims/layer.ts, the list wrap builds its layer from) with the real shim
// (ensureShim builds it into the cache with gcc when missing) and the real
// patched emulator, found as wrap finds it (findEmulator: XBUILD_QEMU_DIR or
// the cache entry of the current patch series). A missing emulator FAILS the
// test with instructions; there is no silent stand-in.
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { CROSS_BUILD_END, CROSS_BUILD_START } from '../../src/contract/in-image.ts';
import { ensureShim } from '../../src/shims/build.ts';
import { cacheRoot } from '../../src/cache-root.ts';
import { xbuildLayerEntries } from '../../src/shims/layer.ts';
import type { QemuArch } from '../../src/oci/platform.ts';
import { elfSample } from './elf-samples.ts';
import { findEmulator } from './emulators.ts';
import type { TarSpec } from './mem-image.ts';

export interface XbuildParts { arch: QemuArch; emulator: Buffer; shim: Buffer; emulatorFrom: string; shimFrom: string }

let shimPath: Promise<string> | undefined;

async function parts(arch: QemuArch, emulatorFrom: string): Promise<XbuildParts> {
  shimPath ??= ensureShim({ cacheRoot: cacheRoot(process.env) });
  const shimFrom = await shimPath;
  return { arch, emulator: await readFile(emulatorFrom), shim: await readFile(shimFrom), emulatorFrom, shimFrom };
}

/** The real parts: the patched emulator as wrap finds it (throws when it is not built) and the built shim. */
export async function xbuildParts(arch: QemuArch, env: NodeJS.ProcessEnv = process.env): Promise<XbuildParts> {
  return parts(arch, await findEmulator(arch, env));
}

/**
 * For tests named for it only: the gcc-built stand-in of scripts/fixtures/elf-samples.sh
 * (static x86_64 carrying the xbuild note type 1; it only exits) in place of the emulator.
 */
export async function standInXbuildParts(arch: QemuArch): Promise<XbuildParts> {
  return parts(arch, await elfSample('synthetic/x86_64-xbuild-note1'));
}

async function readStream(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(Buffer.from(c as Buffer));
  return Buffer.concat(parts);
}

/** The xbuild layer's entries (xbuildLayerEntries) as tar specs. */
export async function xbuildLayer(parts: XbuildParts): Promise<TarSpec[]> {
  const entries = await xbuildLayerEntries({ arch: parts.arch, emulatorPath: parts.emulatorFrom, shimPath: parts.shimFrom });
  const out: TarSpec[] = [];
  for (const e of entries) {
    if (e.type === 'dir') out.push({ name: `${e.path}/`, type: 'directory', mode: e.mode });
    else if (e.type === 'symlink') out.push({ name: e.path, type: 'symlink', linkname: e.linkname });
    else {
      const content = Buffer.isBuffer(e.content) ? e.content : e.content ? await readStream(await e.content()) : Buffer.alloc(0);
      out.push({ name: e.path, content, mode: e.mode });
    }
  }
  return out;
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
