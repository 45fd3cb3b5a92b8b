// In-image names shared by the shims (issue 3), wrap (issue 4) and verify
// (issue 5). Paths are relative to the image root, without a leading slash.
import type { QemuArch } from '../qemu/cache.ts';

export const CROSS_BUILD_START = 'usr/bin/cross-build-start';
export const CROSS_BUILD_END = 'usr/bin/cross-build-end';
export const emulatorInImage = (arch: QemuArch): string => `usr/bin/qemu-${arch}-static`;

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
