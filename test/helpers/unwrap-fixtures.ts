// Generated images for the unwrap tests (no builder): a Debian-like armhf
// base (merged /usr, dash as /bin/sh, bash with an rbash hard link, stand-in
// ARM ELF programs), its wrap with stand-in emulator and shim, and the layers
// a builder gives for the classic lines (cross-build-start, a build,
// cross-build-end) and for a package upgrade in cross-build mode.
import type { Image } from '../../src/oci/model.ts';
import type { LayerEntry } from '../../src/layer/entry.ts';
import { wrapImage, type LayerSource } from '../../src/wrap/wrap.ts';
import { DPKG_HOOK_TEXT } from '../../src/wrap/start-state.ts';
import { memImage, tarOf, type TarSpec } from './mem-image.ts';
import { withHistory } from './built-image.ts';

/** An ELF header of a 32-bit little-endian ARM program (what cross-build-start reads), then a payload. */
export function armElf(payload: string): Buffer {
  const h = Buffer.alloc(52);
  h.writeUInt32BE(0x7f454c46, 0); h[4] = 1; h[5] = 1; h[6] = 1; h.writeUInt16LE(2, 16); h.writeUInt16LE(40, 18);
  return Buffer.concat([h, Buffer.from(payload)]);
}
export const SHIM = Buffer.concat([Buffer.from('\x7fELF-shim-stand-in'), Buffer.alloc(200, 1)]);
export const EMU = Buffer.from('emulator bytes');
export const DASH = armElf('dash 1');
export const DASH2 = armElf('dash 2');
export const BASH = armElf('bash');

export const layerSource: LayerSource = async (arch) => ({
  qemuVersion: '10.0.0',
  entries: [
    { path: 'usr/bin/cross-build-start', type: 'file', mode: 0o755, content: SHIM },
    { path: 'usr/bin/cross-build-end', type: 'file', mode: 0o755, content: SHIM },
    { path: `usr/bin/qemu-${arch}-static`, type: 'file', mode: 0o755, content: EMU },
    { path: 'usr/lib/xbuild', type: 'dir', mode: 0o755 },
  ] satisfies LayerEntry[],
});

/** Debian-like merged /usr: bin -> usr/bin, sh -> dash, bash with rbash hard link, /etc/shells, dpkg.cfg.d. */
export async function debianBase(): Promise<Image> {
  const tar = await tarOf([
    { name: 'bin', type: 'symlink', linkname: 'usr/bin' },
    { name: 'etc/', type: 'directory' },
    { name: 'etc/dpkg/', type: 'directory' },
    { name: 'etc/dpkg/dpkg.cfg.d/', type: 'directory' },
    { name: 'etc/shells', content: '# /etc/shells\n/bin/sh\n/usr/bin/sh\n/bin/bash\n/usr/bin/bash\n/bin/rbash\n/bin/dash\n' },
    { name: 'usr/', type: 'directory' },
    { name: 'usr/bin/', type: 'directory', mode: 0o755 },
    { name: 'usr/bin/bash', content: BASH, mode: 0o755 },
    { name: 'usr/bin/dash', content: DASH, mode: 0o755 },
    { name: 'usr/bin/rbash', type: 'link', linkname: 'usr/bin/bash' },
    { name: 'usr/bin/sh', type: 'symlink', linkname: 'dash' },
    { name: 'usr/lib/', type: 'directory' },
  ]);
  return withHistory(memImage('debian-like', { architecture: 'arm', variant: 'v7' }, [{ tar }]));
}

export async function wrapped(start: boolean): Promise<Image> {
  const r = await wrapImage(await debianBase(), { baseName: 'example.com/debian:12', layerSource, xbuildVersion: '9.9.9', start, sourceDateEpoch: 1700000000 });
  return r.image as Image;
}

const tar = (entries: TarSpec[]): Promise<Buffer> => tarOf(entries);

/** The layer `RUN ["cross-build-start"]` gives on the base above. */
export const startLayer = () => tar([
  { name: 'etc/dpkg/dpkg.cfg.d/xbuild-cross-build', content: DPKG_HOOK_TEXT },
  { name: 'usr/bin/', type: 'directory' },
  { name: 'usr/bin/bash', content: SHIM, mode: 0o755 },
  { name: 'usr/bin/bash.xbuild-orig', content: BASH, mode: 0o755 },
  { name: 'usr/bin/dash', content: SHIM, mode: 0o755 },
  { name: 'usr/bin/dash.xbuild-orig', content: DASH, mode: 0o755 },
  { name: 'usr/lib/xbuild/cross-build-active', content: '/bin/dash\n/bin/bash\n' },
]);
export const appLayer = () => tar([
  { name: 'app/', type: 'directory' },
  { name: 'app/hello', content: 'hello\n' },
  { name: 'app/hello-link', type: 'link', linkname: 'app/hello' },
]);
/** apt-get upgrade of dash with the dpkg hook: dash replaced, swapped again. */
export const upgradeLayer = () => tar([
  { name: 'usr/bin/dash', content: SHIM, mode: 0o755 },
  { name: 'usr/bin/dash.xbuild-orig', content: DASH2, mode: 0o755 },
  { name: 'usr/bin/dash2-link', type: 'link', linkname: 'usr/bin/dash.xbuild-orig' },
]);
export const endLayer = () => tar([
  { name: 'etc/dpkg/dpkg.cfg.d/.wh.xbuild-cross-build' },
  { name: 'usr/bin/bash', content: BASH, mode: 0o755 },
  { name: 'usr/bin/.wh.bash.xbuild-orig' },
  { name: 'usr/bin/dash', content: DASH, mode: 0o755 },
  { name: 'usr/bin/.wh.dash.xbuild-orig' },
  { name: 'usr/lib/xbuild/.wh.cross-build-active' },
]);
