// Which paths of an image belong to xbuild (the in-image contract of
// shims/README.md): what `xbuild unwrap` removes and `verify --final` forbids.
// Paths are relative to the image root, without a leading slash, as layers
// store them (builders write real paths, so `/bin/x` is `usr/bin/x` under a
// symlinked /bin).
import { posix } from 'node:path';
import { CROSS_BUILD_END, CROSS_BUILD_START, ORIGINAL_SUFFIX, STATE_FILE } from './contract.ts';
import { DPKG_HOOK } from './build.ts';

/** The directory holding the state file: present in every wrapped image. */
export const STATE_DIR = posix.dirname(STATE_FILE);
/** Temporary names the shim uses while swapping (a crash may leave one behind). */
export const TEMP_SUFFIXES = ['.xbuild-new', '.xbuild-tmp'];
export const EMULATOR_PATH = /^usr\/bin\/qemu-[a-z0-9_]+-static$/;

/** True when `path` is one of xbuild's files: emulator, shims, state dir, originals, temporaries, dpkg hook. */
export function isXbuildOwned(path: string): boolean {
  if (path === CROSS_BUILD_START || path === CROSS_BUILD_END || path === DPKG_HOOK) return true;
  if (path === STATE_DIR || path.startsWith(`${STATE_DIR}/`)) return true;
  if (EMULATOR_PATH.test(path)) return true;
  return path.endsWith(ORIGINAL_SUFFIX) || TEMP_SUFFIXES.some((s) => path.endsWith(s));
}
