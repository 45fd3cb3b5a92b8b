// Where built emulators live, and how wrap finds them.
//
// Contract (issue 2 fills in the build side; wrap only reads):
//   cache root:  $XBUILD_CACHE_DIR, else ${XDG_CACHE_HOME:-~/.cache}/xbuild
//   emulators:   <root>/qemu/<key>/qemu-<qemu-arch>-static   (+ build.json describing inputs)
//   shim:        <root>/shim/<key>/xbuild-shim               (host-native static /bin/sh shim: src/shims/build.ts ensureShim)
//   `--qemu-dir DIR` replaces the lookup with a directory holding the same file names.

/** QEMU's linux-user target names for the platforms xbuild emulates. */
export type QemuArch = 'arm' | 'aarch64';

export function qemuArchFor(architecture: string, _variant?: string): QemuArch | undefined {
  switch (architecture) {
    case 'arm': return 'arm';
    case 'arm64': return 'aarch64';
    default: return undefined;
  }
}

export function emulatorFileName(arch: QemuArch): string {
  return `qemu-${arch}-static`;
}
