// `xbuild doctor`: which emulator and shim wrap would use, from where, their
// versions and checks, and whether this host has binfmt_misc handlers for the
// emulated architectures (then a builder there can run ARM without xbuild).
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GUEST_ELF, SHIM_VERSION, parseEmulatorNote } from '../contract/in-image.ts';
import { QEMU_ARCHES, type QemuArch } from '../oci/platform.ts';
import { readEmulatorFacts } from '../qemu/elf-check.ts';
import { readSeries } from '../qemu/series.ts';
import { shimNoteVersion, checkShimBinary } from '../shims/elf-check.ts';
import { checkPackagedFile, PLATFORM_PACKAGE } from './platform-package.ts';
import { loadPlatformPackage, locateEmulator, locateShim, type LookupOptions, type Origin } from './lookup.ts';

export interface Check { name: string; ok: boolean; detail: string }
export interface Found { ok: boolean; path?: string; origin?: Origin; version?: string; checks: Check[]; error?: string; hint?: string }

export interface BinfmtHandler { name: string; enabled: boolean; interpreter: string; machine?: number; elfClass?: 32 | 64; endianness?: 'little' | 'big'; flags: string }
export interface DoctorReport {
  ok: boolean;
  xbuildVersion: string;
  series: { version: number; hash: string };
  lookupOrder: string[];
  platformPackage: { installed: boolean; dir?: string; xbuildVersion?: string; qemuVersion?: string; error?: string };
  emulators: Record<string, Found>;
  shim: Found;
  binfmt: { mounted: boolean; handlers: BinfmtHandler[]; emulated: string[] };
}


function failed(err: unknown): Found {
  const e = err as Error & { hint?: string };
  return { ok: false, checks: [], error: e.message, ...(e.hint ? { hint: e.hint } : {}) };
}

export async function diagnose(opts: LookupOptions & { binfmtDir?: string }): Promise<DoctorReport> {
  const series = opts.series ?? await readSeries();
  const lookup = { ...opts, series };
  const platformPackage: DoctorReport['platformPackage'] = { installed: false };
  let pkg: Awaited<ReturnType<typeof loadPlatformPackage>>;
  try {
    pkg = await loadPlatformPackage(lookup);
    if (pkg) Object.assign(platformPackage, { installed: true, dir: pkg.dir, xbuildVersion: pkg.manifest.xbuildVersion, qemuVersion: pkg.manifest.qemu.version });
  } catch (err) {
    Object.assign(platformPackage, { installed: true, error: (err as Error).message });
  }
  const emulators: Record<string, Found> = {};
  for (const arch of QEMU_ARCHES) {
    try {
      const loc = await locateEmulator(arch, lookup);
      const f = await readEmulatorFacts(loc.path);
      const note = f.marker === undefined ? undefined : parseEmulatorNote(f.marker);
      const checks: Check[] = [
        { name: 'x86_64', ok: f.machine === 62, detail: `e_machine ${f.machine}` },
        { name: 'static', ok: !f.interp && f.needed === 0, detail: f.linkage },
        { name: 'execve-interception', ok: note?.series === series.version, detail: f.marker ? `note "${f.marker}"` : 'no xbuild note (stock QEMU?)' },
      ];
      if (pkg && loc.origin === 'platform-package') {
        const p = await checkPackagedFile(pkg.dir, pkg.manifest, `bin/qemu-${arch}-static`);
        checks.push({ name: 'manifest sha256', ok: !p, detail: p ?? 'matches' });
      }
      emulators[arch] = { ok: checks.every((c) => c.ok), path: loc.path, origin: loc.origin, version: loc.qemuVersion ?? note?.qemu, checks };
    } catch (err) {
      emulators[arch] = failed(err);
    }
  }
  let shim: Found;
  try {
    const loc = await locateShim(lookup);
    const elf = checkShimBinary(await readFile(loc.path), loc.path);
    const v = shimNoteVersion(elf);
    shim = {
      ok: v === SHIM_VERSION, path: loc.path, origin: loc.origin, version: String(v),
      checks: [
        { name: 'x86_64 static with shim note', ok: true, detail: elf.linkage },
        { name: 'shim version', ok: v === SHIM_VERSION, detail: `${v}, this xbuild expects ${SHIM_VERSION}` },
      ],
    };
  } catch (err) {
    shim = failed(err);
  }
  const binfmt = await readBinfmt(opts.binfmtDir ?? '/proc/sys/fs/binfmt_misc');
  return {
    ok: Object.values(emulators).every((e) => e.ok) && shim.ok && !platformPackage.error,
    xbuildVersion: opts.xbuildVersion,
    series: { version: series.version, hash: series.hash },
    lookupOrder: ['--qemu-dir', `${PLATFORM_PACKAGE} beside the CLI`, 'the user cache (xbuild qemu build)'],
    platformPackage, emulators, shim, binfmt,
  };
}

/** Handlers registered in binfmt_misc (none readable when it is not mounted); `emulated` lists the QEMU arches some enabled handler covers. */
export async function readBinfmt(dir: string): Promise<DoctorReport['binfmt']> {
  const names = await readdir(dir).catch(() => undefined);
  if (!names || !names.includes('status')) return { mounted: false, handlers: [], emulated: [] };
  const handlers: BinfmtHandler[] = [];
  for (const name of names.filter((n) => n !== 'status' && n !== 'register').sort()) {
    const text = await readFile(join(dir, name), 'utf8').catch(() => '');
    const field = (k: string) => new RegExp(`^${k}[: ]\\s*(.*)$`, 'm').exec(text)?.[1]?.trim() ?? '';
    const magic = field('magic');
    const offset = Number(field('offset') || '0');
    // ELF magic rules: EI_CLASS at byte 4, EI_DATA at byte 5, e_machine the u16 at byte 18 in that byte order.
    let elf: Pick<BinfmtHandler, 'machine' | 'elfClass' | 'endianness'> = {};
    if (offset === 0 && /^7f454c46/i.test(magic) && magic.length >= 40) {
      const big = magic.slice(10, 12) === '02';
      elf = {
        machine: parseInt(big ? magic.slice(36, 40) : magic.slice(38, 40) + magic.slice(36, 38), 16),
        elfClass: magic.slice(8, 10) === '01' ? 32 : 64,
        endianness: big ? 'big' : 'little',
      };
    }
    handlers.push({ name, enabled: /^enabled$/m.test(text), interpreter: field('interpreter'), flags: field('flags'), ...elf });
  }
  const emulated = QEMU_ARCHES.filter((a: QemuArch) => handlers.some((h) => h.enabled && h.machine === GUEST_ELF[a].machine
    && h.elfClass === GUEST_ELF[a].class && h.endianness === GUEST_ELF[a].endianness));
  return { mounted: true, handlers, emulated };
}
