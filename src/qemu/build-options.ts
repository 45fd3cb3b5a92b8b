// How the emulators are configured. Part of the cache key: change a flag and
// every cached build is rebuilt.
import type { QemuArch } from '../oci/platform.ts';

/**
 * Static linux-user emulators only, nothing optional (no system emulation,
 * tools, docs, firmware blobs, or default features that would pull static
 * libraries in). Non-PIE, and link-time optimised (a 17% smaller image:
 * fewer pages faulted by every short-lived emulator process): see
 * patches/README.md for both measurements.
 */
export const CONFIGURE_FLAGS: readonly string[] = [
  '--static',
  '--disable-pie',
  '--enable-lto',
  '--disable-system',
  '--enable-linux-user',
  '--disable-tools',
  '--disable-docs',
  '--disable-install-blobs',
  '--without-default-features',
  '--disable-werror',
];

export const STRIP = true;

export function targetList(targets: readonly QemuArch[]): string {
  return [...targets].sort().map((t) => `${t}-linux-user`).join(',');
}

/** ninja targets building only the emulators asked for. */
export function ninjaTargets(targets: readonly QemuArch[]): string[] {
  return [...targets].sort().map((t) => `qemu-${t}`);
}
