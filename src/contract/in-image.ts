// The in-image contract: every name, note and flag the emulator (qemu/), the
// shim (shims/, compiled with these values as -D flags), wrap and verify must
// agree on. Paths are relative to the image root, without a leading slash.
import type { QemuArch } from '../oci/platform.ts';
import { EM_AARCH64, EM_ARM, EM_PPC64, EM_RISCV, EM_S390 } from '../elf/constants.ts';

export const CROSS_BUILD_START = 'usr/bin/cross-build-start';
export const CROSS_BUILD_END = 'usr/bin/cross-build-end';
/** Directory of the emulators in the image, and how their file names are made. */
export const EMULATOR_DIR = 'usr/bin';
export const EMULATOR_PREFIX = 'qemu-';
export const EMULATOR_SUFFIX = '-static';
/** qemu-<arch>-static: the file name in the image, in the cache and in --qemu-dir. */
export const emulatorFileName = (arch: QemuArch): string => `${EMULATOR_PREFIX}${arch}${EMULATOR_SUFFIX}`;
export const emulatorInImage = (arch: QemuArch): string => `${EMULATOR_DIR}/${emulatorFileName(arch)}`;
/**
 * The ELF identity each emulator runs (class, byte order, e_machine): how the
 * shim picks the emulator for a shell (a -D table, shims/src/elf.c), how the
 * aarch64 emulator's sibling routing names another target (patches/0010), and
 * what wrap --start and verify expect. ppc64 big-endian and 32-bit s390 are
 * other QEMU targets xbuild does not build.
 */
export interface GuestElf { class: 32 | 64; endianness: 'little' | 'big'; machine: number }
export const GUEST_ELF: Readonly<Record<QemuArch, GuestElf>> = {
  arm: { class: 32, endianness: 'little', machine: EM_ARM },
  aarch64: { class: 64, endianness: 'little', machine: EM_AARCH64 },
  riscv64: { class: 64, endianness: 'little', machine: EM_RISCV },
  ppc64le: { class: 64, endianness: 'little', machine: EM_PPC64 },
  s390x: { class: 64, endianness: 'big', machine: EM_S390 },
};

/** The emulator that runs an ELF file of this identity, if xbuild has one. */
export function qemuArchOfElf(e: { class: number; endianness: 'little' | 'big'; machine: number }): QemuArch | undefined {
  for (const [arch, g] of Object.entries(GUEST_ELF) as [QemuArch, GuestElf][]) {
    if (g.class === e.class && g.endianness === e.endianness && g.machine === e.machine) return arch;
  }
  return undefined;
}

/** The option the shim passes to the emulator to turn on execve interception. */
export const EMULATOR_EXECVE_FLAG = '-execve';
/**
 * The emulator's levers (patches/0020, 0030, 0040 and 0050, each `-flag on|off|1|0` with a
 * QEMU_* environment twin, inherited by children): the shim passes `flag on`
 * for each, so cross-build-start turns them on, unless the environment sets
 * the twin, which then decides (`QEMU_LEAN_HTABLE=off` turns that one off;
 * `QEMU_TB_CACHE=/dir` puts the translation cache elsewhere).
 */
export const EMULATOR_LEVERS: readonly { flag: string; env: string; series: number; shim: number }[] = [
  // series: the patch series that added the option; shim: the first shim version that passes it
  { flag: '-lean-htable', env: 'QEMU_LEAN_HTABLE', series: 6, shim: 4 },
  { flag: '-tb-cache', env: 'QEMU_TB_CACHE', series: 7, shim: 5 },
  { flag: '-huge-heap', env: 'QEMU_HUGE_HEAP', series: 8, shim: 6 },
  { flag: '-vfork-wait', env: 'QEMU_VFORK_WAIT', series: 10, shim: 7 },
];
/**
 * Where `-tb-cache on` keeps translated blocks (patches/0030
 * TB_CACHE_DEFAULT_DIR): inside xbuild's own directory (STATE_FILE's), so
 * `xbuild unwrap` drops it from every layer and `verify --final` forbids it.
 */
export const TB_CACHE_DIR = 'usr/lib/xbuild/tb-cache';
/** Oldest patch series whose emulator accepts every option a shim of `shimVersion` passes (an older one fails each RUN with "unknown option"). */
export function seriesTheShimNeeds(shimVersion: number): number {
  return Math.max(0, ...leversPassedBy(shimVersion).map((l) => l.series));
}
/** The options a shim of `shimVersion` passes that an emulator of `series` lacks (none when they fit). */
export function leversTheEmulatorLacks(shimVersion: number, series: number): string[] {
  return leversPassedBy(shimVersion).filter((l) => series < l.series).map((l) => l.flag);
}
/** The levers a shim of `shimVersion` passes to the emulator. */
function leversPassedBy(shimVersion: number): typeof EMULATOR_LEVERS {
  return EMULATOR_LEVERS.filter((l) => shimVersion >= l.shim);
}

/** What an emulator's xbuild note says: "execve-intercept series=<N> qemu=<version>". */
export interface EmulatorNote { series: number; qemu?: string }
export function emulatorNoteText(n: { series: number; qemu: string }): string {
  return `execve-intercept series=${n.series} qemu=${n.qemu}`;
}
/** The note's fields, or undefined when it is not an execve-intercept note (qemu= is absent only in hand-made notes). */
export function parseEmulatorNote(text: string): EmulatorNote | undefined {
  const m = /^execve-intercept series=(\d+)(?: qemu=(\S+))?(?: |$)/.exec(text);
  return m ? { series: Number(m[1]), ...(m[2] !== undefined ? { qemu: m[2] } : {}) } : undefined;
}
/** The shim version its note names ("shim version=<N>"), or undefined. */
export function parseShimNote(text: string): number | undefined {
  const m = /^shim version=(\d+)$/.exec(text);
  return m ? Number(m[1]) : undefined;
}
/** dpkg configuration file cross-build-start writes (and cross-build-end removes) in Debian-based images. */
export const DPKG_HOOK = 'etc/dpkg/dpkg.cfg.d/xbuild-cross-build';

/** While cross-build mode is on, the original of a swapped file lives at `<path>` + this suffix. */
export const ORIGINAL_SUFFIX = '.xbuild-orig';
/** Present only between cross-build-start and cross-build-end; lists the swapped paths, one per line. */
export const STATE_FILE = 'usr/lib/xbuild/cross-build-active';

/** ELF note (in a PT_NOTE segment) that marks xbuild's binaries; read by verify without running them. */
export const XBUILD_NOTE_NAME = 'xbuild';
/** Note type in the patched emulator; desc = ASCII "execve-intercept series=<N> qemu=<version>". */
export const NT_XBUILD_EXECVE = 1;
/** Note type in the host-native shim; desc = ASCII "shim version=<N>". */
export const NT_XBUILD_SHIM = 2;
/** Bumped whenever the shim's behaviour changes; carried in its ELF note ("shim version=<N>"). */
export const SHIM_VERSION = 7;
/** Oldest patch series whose emulator accepts every option this build's shim passes. */
export const SERIES_THE_SHIM_NEEDS = seriesTheShimNeeds(SHIM_VERSION);

/**
 * The swap contract: the shells cross-build-start considers, in its order
 * (shims/src/start-plan.c candidate_shells; a test holds the C list to this one):
 * /bin/sh, then each absolute-path line of /etc/shells (read through links,
 * first SHELLS_FILE_MAX bytes, leading blanks and trailing blanks/CR trimmed,
 * shorter than SHELL_PATH_MAX), then USUAL_SHELLS; at most SWAP_MAX_ENTRIES.
 * verify checks exactly these paths.
 */
export const SHELLS_FILE = 'etc/shells';
export const USUAL_SHELLS = ['bin/sh', 'bin/bash', 'bin/dash', 'bin/ash', 'bin/zsh', 'bin/ksh', 'bin/mksh'] as const;
/** The shim reads /etc/shells up to its list pool (shims/src/files.c LIST_POOL); a longer file makes cross-build-start refuse. */
export const SHELLS_FILE_MAX = 128 * 1024;
export const SHELL_PATH_MAX = 255;
/** shims/src/files.c MAX_ENTRIES: more candidates make cross-build-start refuse (nothing swapped). */
export const SWAP_MAX_ENTRIES = 1024;

/** The shell paths cross-build-start would swap, given the text of /etc/shells (latin1, or undefined when absent). */
export function swappableShells(shellsText: string | undefined): string[] {
  const out: string[] = [];
  const add = (abs: string) => {
    if (!out.includes(abs) && out.length < SWAP_MAX_ENTRIES && abs.length <= SHELL_PATH_MAX) out.push(abs);
  };
  add('/bin/sh');
  if (shellsText !== undefined) {
    let text = shellsText.slice(0, SHELLS_FILE_MAX);
    const nul = text.indexOf('\0');
    if (nul >= 0) text = text.slice(0, nul);
    for (const line of text.split('\n')) {
      const p = line.replace(/^[ \t]+/, '').replace(/[ \t\r]+$/, '');
      if (p.startsWith('/')) add(p);
    }
  }
  for (const s of USUAL_SHELLS) add(`/${s}`);
  return out.map((p) => p.replace(/^\/+/, ''));
}
