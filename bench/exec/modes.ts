// The ways bench/exec runs one guest shell loop: natively, under xbuild's
// emulator with -execve (start-up levers off, each lever alone, all of them),
// under Debian's stock emulator and xbuild's registered with binfmt_misc INSIDE
// A USER NAMESPACE (never the host's), through the shim of cross-build-start
// (levers on, as cross-build-start runs them, and off through their QEMU_*
// twins), and optionally under PRoot -q.
import { EMULATOR_LEVERS } from '../../src/contract/in-image.ts';
import { GUEST_PATH, runHost, type Guest, type RunResult } from '../../test/helpers/guest.ts';

export const ENV = { PATH: GUEST_PATH, HOME: '/root', LC_ALL: 'C' };
// binfmt_misc entry for ELF32 little-endian EM_ARM executables (as Debian's qemu-user-static registers it)
const ARM_MAGIC = String.raw`\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00`;
const ARM_MASK = String.raw`\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff`;

export const BINFMT_WRAPPER = `set -e
emu=$1 root=$2 script=$3
mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
printf '%s' ':xbuild-bench-arm:M::${ARM_MAGIC}:${ARM_MASK}:'"$emu"':F' > /proc/sys/fs/binfmt_misc/register
exec chroot "$root" /bin/sh -c "$script"`;

export type Mode = { name: string; run: (script: string) => Promise<RunResult> };

/** Mode names the ratios refer to. */
export const EXECVE_OFF = 'xbuild -execve, levers off';
export const STOCK_BINFMT = 'stock QEMU + binfmt (userns)';
export const XBUILD_BINFMT = 'xbuild emu + binfmt (userns)';
export const SHIM_ON = 'xbuild shim (levers on)';
export const SHIM_OFF = 'xbuild shim, levers off (QEMU_*=off)';
export const leverMode = (flag: string) => `xbuild -execve ${flag} on`;
export const ALL_LEVERS = 'xbuild -execve, all levers on';

export interface ModeInputs {
  g: Guest;
  /** A second copy of the tree with xbuild's layer installed and cross-build-start run. */
  shimRoot: string;
  hostEmulator: string;
  binfmtOk: boolean;
  stockEmulator?: string;
  proot: boolean;
}

const TIMEOUT = 600_000;

export function modes(i: ModeInputs): Mode[] {
  const { g } = i;
  const execve = (flags: string[]) => (s: string) => runHost(['chroot', g.root, g.emulator, '-execve', ...flags, '/bin/sh', '-c', s], { env: ENV, timeoutMs: TIMEOUT });
  const binfmt = (emu: string) => (s: string) => runHost(['unshare', '--user', '--map-root-user', '--mount', '--fork', '--', '/bin/sh', '-c', BINFMT_WRAPPER, 'sh', emu, g.root, s], { env: ENV, timeoutMs: TIMEOUT });
  const leversOff = Object.fromEntries(EMULATOR_LEVERS.map((l) => [l.env, 'off']));
  const list: Mode[] = [
    // the same loop run by the host's own shell and programs, for scale
    { name: 'native (host)', run: (s) => runHost(['/bin/sh', '-c', s], { env: ENV, timeoutMs: TIMEOUT }) },
    { name: EXECVE_OFF, run: execve([]) },
    ...EMULATOR_LEVERS.map((l) => ({ name: leverMode(l.flag), run: execve([l.flag, 'on']) })),
  ];
  if (EMULATOR_LEVERS.length > 1) list.push({ name: ALL_LEVERS, run: execve(EMULATOR_LEVERS.flatMap((l) => [l.flag, 'on'])) });
  if (i.binfmtOk && i.stockEmulator) list.push({ name: STOCK_BINFMT, run: binfmt(i.stockEmulator) });
  if (i.binfmtOk) list.push({ name: XBUILD_BINFMT, run: binfmt(i.hostEmulator) });
  // the host kernel runs /bin/sh = the shim, which starts the emulator on the original dash
  list.push({ name: SHIM_ON, run: (s) => runHost(['chroot', i.shimRoot, '/bin/sh', '-c', s], { env: ENV, timeoutMs: TIMEOUT }) });
  list.push({ name: SHIM_OFF, run: (s) => runHost(['chroot', i.shimRoot, '/bin/sh', '-c', s], { env: { ...ENV, ...leversOff }, timeoutMs: TIMEOUT }) });
  if (i.proot) list.push({ name: 'PRoot -q', run: (s) => runHost(['proot', '-q', i.hostEmulator, '-r', g.root, '/bin/sh', '-c', s], { env: ENV, timeoutMs: TIMEOUT }) });
  return list;
}
