// `xbuild wrap --start`: the files `cross-build-start` would write, computed
// from the base's layers instead of by running it (no emulation, no chroot).
// Mirrors shims/xbuild-shim.c cmd_start: candidates are /bin/sh, the lines of
// /etc/shells and the usual shell paths, each resolved like resolve_final
// (symlinks of the last component, relative targets joined to the link's
// directory as written); a file counts once (hard links, merged /usr); swapped
// are regular ELF programs of the image's architecture. Each gives the shim at
// its path (the original's mode and owner) and the original, byte for byte
// with its mode, owner and mtime, at <path>.xbuild-orig; then the state file
// (the resolved paths as written, one a line) and the dpkg hook when
// /etc/dpkg/dpkg.cfg.d exists.
import { posix } from 'node:path';
import { ApplyError, FsView, type Applied } from '../layer/fs-view.ts';
import { walkImageLayer, type ContentSink, type WalkEntry } from '../layer/walk.ts';
import type { LayerEntry } from '../layer/entry.ts';
import type { Layer } from '../oci/model.ts';
import type { QemuArch } from '../oci/platform.ts';
import { CROSS_BUILD_START, DPKG_HOOK, ORIGINAL_SUFFIX, STATE_FILE } from '../contract/in-image.ts';
import { XbuildError, wrapError } from '../errors.ts';

/** The shells cross-build-start considers besides /bin/sh and /etc/shells (xbuild-shim.c `usual`). */
export const USUAL_SHELLS = ['/bin/sh', '/bin/bash', '/bin/dash', '/bin/ash', '/bin/zsh', '/bin/ksh', '/bin/mksh'];
/** What cross-build-start writes into the dpkg hook (xbuild-shim.c `dpkg_hook_text`). */
export const DPKG_HOOK_TEXT = '# Written by cross-build-start, removed by cross-build-end (xbuild): after every\n'
  + '# dpkg run, swap again the shells a package upgrade has just replaced.\n'
  + `post-invoke=/${CROSS_BUILD_START} --refresh\n`;
const MAX_HOPS = 40;
const SHELLS_MAX = 64 << 10;

interface Facts {
  /** Identity of the inode: hard links share the object. */
  id: number;
  uid: number; gid: number; mtime: number;
  /** The tar entry holding the bytes. */
  src?: { layer: number; path: string };
  head?: Buffer;
  text?: string;
}

export interface StartState {
  /** The xbuild layer's entries plus the start state's files; directories that exist in the base keep its mode, owner and mtime. */
  entries: LayerEntry[];
  /** The swapped files as the state file lists them ("/bin/dash"). */
  swapped: string[];
}

function qemuArchOfHead(head: Buffer | undefined): QemuArch | undefined {
  if (!head || head.length < 20 || head.readUInt32BE(0) !== 0x7f454c46 || head[5] !== 1) return undefined;
  const machine = head.readUInt16LE(18);
  if (head[4] === 1 && machine === 40) return 'arm';
  if (head[4] === 2 && machine === 183) return 'aarch64';
  return undefined;
}

async function readView(layers: Layer[]): Promise<FsView<Facts>> {
  const view = new FsView<Facts>();
  let ids = 0;
  for (const [i, layer] of layers.entries()) {
    const label = `base layer ${i + 1}/${layers.length} ${layer.descriptor.digest.slice(0, 19)}`;
    view.beginLayer(i);
    await walkImageLayer(layer, (e: WalkEntry): ContentSink | undefined => {
      let applied: Applied<Facts>;
      try {
        applied = view.apply({ name: e.name, kind: e.kind, mode: e.mode, size: e.size, ...(e.linkname !== undefined ? { linkname: e.linkname } : {}) });
      } catch (err) {
        if (err instanceof ApplyError) throw new XbuildError('INVALID_IMAGE', `entry ${JSON.stringify(e.name.slice(0, 200))}: ${err.message}; container runtimes fail to unpack this layer`);
        throw err;
      }
      if (applied.kind !== 'node' || e.kind === 'hardlink') return undefined; // a hard link shares its target's facts
      const meta = { uid: e.uid, gid: e.gid, mtime: e.mtime };
      const node = applied.node;
      if (node.kind === 'dir') { node.content = { id: ++ids, ...meta }; return undefined; }
      if (node.kind !== 'file' || e.kind !== 'file') return undefined;
      const facts: Facts = { id: ++ids, ...meta, src: { layer: i, path: e.path } };
      node.content = facts;
      const parts: Buffer[] = []; let got = 0;
      const want = e.path === 'etc/shells' ? SHELLS_MAX : 20;
      return {
        data(c) { if (got < want) { parts.push(c); got += c.length; } },
        end() {
          const all = Buffer.concat(parts);
          facts.head = all.subarray(0, 20);
          if (want === SHELLS_MAX) facts.text = all.subarray(0, SHELLS_MAX).toString('latin1');
        },
      };
    }, label).catch((err) => { throw wrapError(`reading ${label}`, err); });
  }
  return view;
}

/** resolve_final: follow symlinks of the last component only; returns the path as written ("/bin/dash"). */
function resolveFinal(view: FsView<Facts>, path: string): string | undefined {
  let out = path;
  for (let hops = 0; hops < MAX_HOPS; hops++) {
    const l = view.lookup(out, false);
    if (!l.found) return out; // ENOENT: the missing name
    if (l.node.kind !== 'symlink') return out;
    const link = l.node.linkname ?? '';
    out = link.startsWith('/') ? link : `${out.slice(0, out.lastIndexOf('/') + 1)}${link}`;
  }
  return undefined;
}

/** The candidate list in cross-build-start's order, duplicates (same string) dropped. */
function candidates(view: FsView<Facts>): string[] {
  const list: string[] = ['/bin/sh'];
  const shells = view.lookup('etc/shells');
  const text = shells.found && shells.node.kind === 'file' ? shells.node.content?.text : undefined;
  for (const raw of (text ?? '').split('\n')) {
    const line = raw.replace(/^[ \t]+/, '').replace(/[ \t\r]+$/, '');
    if (line.startsWith('/')) list.push(line);
  }
  list.push(...USUAL_SHELLS);
  return [...new Set(list)];
}

async function captureContents(layers: Layer[], wanted: Map<string, Buffer | undefined>): Promise<void> {
  const byLayer = new Set([...wanted.keys()].map((k) => Number(k.slice(0, k.indexOf(' ')))));
  for (const i of byLayer) {
    await walkImageLayer(layers[i]!, (e) => {
      const key = `${i} ${e.path}`;
      if (e.kind !== 'file' || !wanted.has(key)) return undefined;
      const parts: Buffer[] = [];
      return { data(c) { parts.push(c); }, end() { wanted.set(key, Buffer.concat(parts)); } };
    }, `base layer ${i + 1}`).catch((err) => { throw wrapError(`reading base layer ${i + 1}`, err); });
  }
}

/**
 * The xbuild layer's entries (`layerEntries`, for qemu-`arch`-static) plus
 * the files cross-build-start would leave in an image made of `layers` and
 * that layer. `epoch` is the mtime of the files it writes (SOURCE_DATE_EPOCH).
 */
export async function startState(layers: Layer[], arch: QemuArch, layerEntries: LayerEntry[], epoch: number, name: string): Promise<StartState> {
  const shim = layerEntries.find((e) => e.path === CROSS_BUILD_START)?.content;
  if (!Buffer.isBuffer(shim)) throw new XbuildError('INVALID_IMAGE', `the xbuild layer has no ${CROSS_BUILD_START} bytes to swap in`);
  const view = await readView(layers);
  const shPath = resolveFinal(view, '/bin/sh');
  const sh = shPath ? view.lookup(shPath) : undefined;
  const shArch = sh?.found && sh.node.kind === 'file' ? qemuArchOfHead(sh.node.content?.head) : undefined;
  if (!sh?.found) throw new XbuildError('UNSUPPORTED', `cannot start cross-build mode in ${name}: it has no /bin/sh`, { hint: 'wrap without --start and run RUN ["cross-build-start"] where a shell exists' });
  if (shArch !== arch) {
    throw new XbuildError('UNSUPPORTED', `cannot start cross-build mode in ${name}: /bin/sh (${shPath}) is not an ${arch} program, but the image's platform needs qemu-${arch}-static`,
      { hint: 'the image config and its binaries disagree: check it with `xbuild verify`' });
  }
  const seen = new Set<number>();
  const plan: { written: string; path: string; mode: number; facts: Facts }[] = [];
  for (const c of candidates(view)) {
    const written = resolveFinal(view, c);
    if (!written) continue;
    const l = view.lookup(written);
    if (!l.found || l.node.kind !== 'file' || !l.node.content) continue;
    const f = l.node.content;
    if (seen.has(f.id)) continue;
    seen.add(f.id);
    if (qemuArchOfHead(f.head) !== arch) continue;
    plan.push({ written, path: l.path, mode: l.node.mode, facts: f });
  }
  const wanted = new Map<string, Buffer | undefined>(plan.map((p) => [`${p.facts.src!.layer} ${p.facts.src!.path}`, undefined]));
  await captureContents(layers, wanted);

  const files: LayerEntry[] = [];
  for (const p of plan) {
    const bytes = wanted.get(`${p.facts.src!.layer} ${p.facts.src!.path}`);
    if (!bytes) throw new XbuildError('INVALID_IMAGE', `${name}: the bytes of ${p.path} were not found again in its layer`);
    const owner = { uid: p.facts.uid, gid: p.facts.gid };
    files.push({ path: p.path, type: 'file', mode: p.mode, ...owner, mtime: epoch, content: shim, size: shim.length });
    files.push({ path: `${p.path}${ORIGINAL_SUFFIX}`, type: 'file', mode: p.mode, ...owner, mtime: p.facts.mtime, content: bytes, size: bytes.length });
  }
  const swapped = plan.map((p) => p.written);
  const state = Buffer.from(swapped.map((s) => `${s}\n`).join(''));
  files.push({ path: STATE_FILE, type: 'file', mode: 0o644, mtime: epoch, content: state, size: state.length });
  const dpkgDir = view.lookup(posix.dirname(DPKG_HOOK));
  if (dpkgDir.found && dpkgDir.node.kind === 'dir') {
    const hook = Buffer.from(DPKG_HOOK_TEXT);
    files.push({ path: `${dpkgDir.path}/${posix.basename(DPKG_HOOK)}`, type: 'file', mode: 0o644, mtime: epoch, content: hook, size: hook.length });
  }
  // A builder's diff of cross-build-start keeps the base's directories as they were.
  const byPath = new Map<string, LayerEntry>();
  for (const e of [...layerEntries, ...files]) byPath.set(e.path, e);
  for (const p of [...byPath.keys()]) {
    for (let d = posix.dirname(p); d !== '.'; d = posix.dirname(d)) {
      const n = view.get(d);
      if (n?.kind === 'dir' && n.content) byPath.set(d, { path: d, type: 'dir', mode: n.mode, uid: n.content.uid, gid: n.content.gid, mtime: n.content.mtime });
    }
  }
  return { entries: [...byPath.values()], swapped };
}
