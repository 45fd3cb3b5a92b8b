// The upstream QEMU release `xbuild qemu build` downloads when no --source is given.
export const PINNED_QEMU = {
  version: '10.2.2',
  url: 'https://download.qemu.org/qemu-10.2.2.tar.xz',
  /** From a public build recipe; not verifiable from the build machine (see patches/README.md). */
  sha256: '784b296ff29c1417aa72323abcb2d2ea9ab9771724f577dcd785c3b04f21e176',
} as const;
