// Which paths of an image belong to xbuild (the in-image contract of
// shims/README.md): what `xbuild unwrap` removes and `verify --final` forbids.
// Paths are relative to the image root, without a leading slash, as layers
// store them (builders write real paths, so `/bin/x` is `usr/bin/x` under a
// symlinked /bin).
import { posix } from 'node:path';
import { CROSS_BUILD_END, CROSS_BUILD_START, DPKG_HOOK, EMULATOR_DIR, EMULATOR_PREFIX, EMULATOR_SUFFIX, ORIGINAL_SUFFIX, STATE_FILE } from './in-image.ts';

/** The directory holding the state file: present in every wrapped image. */
export const STATE_DIR = posix.dirname(STATE_FILE);
/** Temporary names the shim uses while swapping (a crash may leave one behind). */
export const TEMP_SUFFIXES = ['.xbuild-new', '.xbuild-tmp'];
const escape = (t: string) => t.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
/** Any emulator xbuild may have put there (qemu-<arch>-static in the emulator directory). */
export const EMULATOR_PATH = new RegExp(`^${escape(EMULATOR_DIR)}/${escape(EMULATOR_PREFIX)}[a-z0-9_]+${escape(EMULATOR_SUFFIX)}$`);
/** Every image config label xbuild sets starts with this; unwrap removes them, verify --final forbids them. */
export const XBUILD_LABEL_PREFIX = 'io.xbuild.';

/** True when `path` is one of xbuild's files: emulator, shims, state dir, originals, temporaries, dpkg hook. */
export function isXbuildOwned(path: string): boolean {
  if (path === CROSS_BUILD_START || path === CROSS_BUILD_END || path === DPKG_HOOK) return true;
  if (path === STATE_DIR || path.startsWith(`${STATE_DIR}/`)) return true;
  if (EMULATOR_PATH.test(path)) return true;
  return path.endsWith(ORIGINAL_SUFFIX) || TEMP_SUFFIXES.some((s) => path.endsWith(s));
}

export const LABEL_XBUILD_VERSION = `${XBUILD_LABEL_PREFIX}version`;
export const LABEL_QEMU_VERSION = `${XBUILD_LABEL_PREFIX}qemu.version`;
/** The base wrap started from (builders drop manifest annotations; `unwrap` points them back at it). */
export const LABEL_BASE_NAME = `${XBUILD_LABEL_PREFIX}base.name`;
export const LABEL_BASE_DIGEST = `${XBUILD_LABEL_PREFIX}base.digest`;
