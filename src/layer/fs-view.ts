// The file system an image unpacks to, built entry by entry the way a runtime
// applies layers (umoci's TarExtractor with filepath-securejoin; containerd's
// apply with fs.RootPath agrees on every case below):
// - names are cleaned, `..` clamped at the root; the parent directory is
//   resolved through symlinks *inside the root* (absolute targets restart at
//   the root, dangling ones are followed lexically, 255 dereferences = ELOOP),
//   then created (a non-directory on the way refuses the layer);
// - whatever is at the path is removed unless both are directories;
// - hard links resolve the target's parent the same way, never its last
//   component; a missing or directory target refuses the layer;
// - whiteouts remove the resolved path, opaque markers the children of the
//   resolved directory, in both cases sparing what this layer already wrote
//   ("upper" paths and their ancestors); each sweep visits a node at most once
//   per layer, so applying a layer is linear in its entries;
// - Linux limits that make the runtime fail: name components > 255 bytes,
//   paths > 4095 bytes, symlink targets > 4095 bytes or empty.
// Paths are latin1 strings (one char per byte) so they stay byte-exact.

export type NodeKind = 'file' | 'dir' | 'symlink' | 'other';

export interface FsNode<C> {
  kind: NodeKind;
  mode: number;
  size: number;
  /** symlink target as stored. */
  linkname?: string;
  /** Index of the layer that put the node there. */
  layer: number;
  /** What the caller recorded about the content (copied to hard links). */
  content?: C;
  /** Layer and entry ordinal that wrote the content (hard links keep the target's), to read it again later. */
  origin?: { layer: number; entry: number };
}

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';
/** The kernel's limit for one path lookup (exec, open). */
export const MAX_SYMLINK_HOPS = 40;
/** filepath-securejoin's limit while unpacking. */
export const MAX_UNPACK_HOPS = 255;
export const NAME_MAX = 255;
export const PATH_MAX = 4095;
/** Cap on nodes kept in one view (memory bound: ~200 bytes each). */
export const MAX_VIEW_NODES = 3_000_000;

/** The runtime would fail to apply this entry: the whole image fails to unpack. */
export class ApplyError extends Error {}

export type Lookup<C> =
  | { found: true; path: string; node: FsNode<C> }
  | { found: false; path: string; reason: 'missing' | 'loop' | 'not-a-directory' };

interface Trie<C> { node: FsNode<C>; children?: Map<string, Trie<C>>; upper: number; swept: number }

export interface ApplyInput {
  name: string;
  kind: NodeKind | 'hardlink';
  mode: number;
  size: number;
  linkname?: string;
  /** Ordinal of the entry in its layer (recorded as the node's origin). */
  entry?: number;
}

export type Applied<C> =
  | { kind: 'whiteout'; path: string }
  | { kind: 'root' }
  | { kind: 'node'; path: string; node: FsNode<C> };

/** Go's path.Clean + umoci CleanPath: components of `name` relative to the root, `..` clamped. */
export function cleanComponents(name: string): string[] {
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') out.pop(); else out.push(c);
  }
  return out;
}

export class FsView<C> {
  private readonly root: Trie<C> = { node: { kind: 'dir', mode: 0o755, size: 0, layer: -1 }, upper: -1, swept: -1 };
  private layer = 0;
  private count = 1;

  /** Entries applied from now on belong to layer `layer`. */
  beginLayer(layer: number): void { this.layer = layer; }

  /** Node count (for caps and benchmarks). */
  get size(): number { return this.count; }

  /** Apply one tar entry as the runtime does; throws ApplyError where the runtime fails. */
  apply(e: ApplyInput): Applied<C> {
    const comps = cleanComponents(e.name);
    for (const c of comps) if (c.length > NAME_MAX) throw new ApplyError(`name component longer than ${NAME_MAX} bytes`);
    if (comps.length === 0) {
      if (e.kind !== 'dir') throw new ApplyError('refusing to change the type of the root directory');
      return { kind: 'root' };
    }
    const base = comps[comps.length - 1]!;
    const dir = this.secureJoin(comps.slice(0, -1));
    if (base.startsWith(WHITEOUT_PREFIX)) {
      const opaque = base === OPAQUE_WHITEOUT;
      const target = opaque ? dir : cleanComponents([...dir, base.slice(WHITEOUT_PREFIX.length)].join('/'));
      this.whiteout(target, opaque);
      return { kind: 'whiteout', path: target.join('/') };
    }
    if (dir.join('/').length + base.length + 1 > PATH_MAX) throw new ApplyError(`path longer than ${PATH_MAX} bytes`);
    const parent = this.mkdirAll(dir);
    const existing = parent.children?.get(base);
    if (existing && !(existing.node.kind === 'dir' && e.kind === 'dir')) { parent.children!.delete(base); this.count -= countNodes(existing); }
    let node: FsNode<C>;
    switch (e.kind) {
      case 'dir':
        if (existing && existing.node.kind === 'dir') { existing.node = { ...existing.node, mode: e.mode, layer: this.layer }; node = existing.node; break; }
        node = { kind: 'dir', mode: e.mode, size: 0, layer: this.layer };
        break;
      case 'symlink': {
        const t = e.linkname ?? '';
        if (t === '') throw new ApplyError('symlink with an empty target');
        if (t.length > PATH_MAX) throw new ApplyError(`symlink target longer than ${PATH_MAX} bytes`);
        node = { kind: 'symlink', mode: e.mode, size: 0, linkname: t, layer: this.layer };
        break;
      }
      case 'hardlink': {
        const lc = cleanComponents(e.linkname ?? '');
        const ldir = lc.length === 0 ? [] : this.secureJoin(lc.slice(0, -1));
        const target = lc.length === 0 ? this.root : this.exact([...ldir, lc[lc.length - 1]!]);
        if (!target) throw new ApplyError('hard link to a missing file');
        if (target.node.kind === 'dir') throw new ApplyError('hard link to a directory');
        node = { ...target.node, layer: this.layer };
        break;
      }
      default:
        node = { kind: e.kind, mode: e.mode, size: e.kind === 'file' ? e.size : 0, layer: this.layer, ...(e.entry !== undefined ? { origin: { layer: this.layer, entry: e.entry } } : {}) };
    }
    const t: Trie<C> = existing && existing.node === node ? existing : { node, upper: this.layer, swept: -1 };
    if (t !== existing) {
      (parent.children ??= new Map()).set(base, t);
      if (++this.count > MAX_VIEW_NODES) throw new ApplyError(`more than ${MAX_VIEW_NODES} files: too many for verify`);
    }
    this.markUpper([...dir, base]);
    return { kind: 'node', path: [...dir, base].join('/'), node };
  }

  /** filepath-securejoin (v0.2): resolve `comps` inside the root, following every symlink. */
  private secureJoin(comps: string[]): string[] {
    const path: string[] = [];
    let unsafe = comps.slice().reverse(); // a stack: next component last
    let n = 0;
    while (unsafe.length > 0) {
      if (n > MAX_UNPACK_HOPS) throw new ApplyError('too many levels of symbolic links');
      const p = unsafe.pop()!;
      if (p === '' || p === '.') continue;
      if (p === '..') { path.pop(); continue; }
      const t = this.exact([...path, p]);
      if (!t || t.node.kind !== 'symlink') { path.push(p); continue; }
      n++;
      const target = t.node.linkname!;
      if (target.startsWith('/')) path.length = 0;
      unsafe = unsafe.concat(target.split('/').reverse());
    }
    return path;
  }

  /** os.MkdirAll on resolved components: creates missing directories, fails on a non-directory. */
  private mkdirAll(comps: string[]): Trie<C> {
    let t = this.root;
    for (const c of comps) {
      let next = t.children?.get(c);
      if (!next) {
        next = { node: { kind: 'dir', mode: 0o777, size: 0, layer: this.layer }, upper: this.layer, swept: -1 };
        (t.children ??= new Map()).set(c, next);
        if (++this.count > MAX_VIEW_NODES) throw new ApplyError(`more than ${MAX_VIEW_NODES} files: too many for verify`);
      } else if (next.node.kind !== 'dir') throw new ApplyError('a parent is not a directory');
      t = next;
    }
    return t;
  }

  private markUpper(comps: string[]): void {
    let t = this.root;
    for (const c of comps) { t = t.children!.get(c)!; t.upper = this.layer; }
  }

  /** The trie entry at exactly these resolved components (no symlink following). */
  private exact(comps: string[]): Trie<C> | undefined {
    let t: Trie<C> | undefined = this.root;
    for (const c of comps) {
      t = t.children?.get(c);
      if (!t) return undefined;
    }
    return t;
  }

  private whiteout(comps: string[], opaque: boolean): void {
    const chain: Trie<C>[] = [this.root];
    for (const c of comps) {
      const next = chain[chain.length - 1]!.children?.get(c);
      if (!next) return; // nothing there (or under a non-directory): nothing to do
      chain.push(next);
    }
    if (chain.some((x) => x.swept === this.layer)) return; // all below is this layer's already
    const t = chain[chain.length - 1]!;
    if (comps.length > 0 && !opaque && t.upper !== this.layer) {
      chain[chain.length - 2]!.children!.delete(comps[comps.length - 1]!);
      this.count -= countNodes(t);
      return;
    }
    this.sweepChildren(t);
  }

  /** Remove every child not written by this layer; descend into the ones that were. */
  private sweepChildren(t: Trie<C>): void {
    t.swept = this.layer;
    for (const [name, child] of t.children ?? []) {
      if (child.upper !== this.layer) { t.children!.delete(name); this.count -= countNodes(child); } else if (child.swept !== this.layer) this.sweepChildren(child);
    }
  }

  /** Node stored at exactly this path (no symlink resolution). */
  get(path: string): FsNode<C> | undefined { return this.exact(cleanComponents(path))?.node; }

  /** Every path (depth first), root excluded. */
  *paths(): IterableIterator<string> {
    const stack: [string, Trie<C>][] = [['', this.root]];
    while (stack.length > 0) {
      const [p, t] = stack.pop()!;
      if (p !== '') yield p;
      for (const [name, child] of t.children ?? []) stack.push([p === '' ? name : `${p}/${name}`, child]);
    }
  }

  /**
   * Resolve `path` as the kernel does inside the container (absolute targets
   * from the image root, `..` clamped there, 40 links at most), following the
   * last component when `followLast`.
   */
  lookup(path: string, followLast = true): Lookup<C> {
    let pending = path.split('/').reverse();
    const done: string[] = [];
    let hops = 0;
    while (pending.length > 0) {
      const comp = pending.pop()!;
      if (comp === '' || comp === '.') continue;
      if (comp === '..') { done.pop(); continue; }
      const here = [...done, comp];
      const t = this.exact(here);
      const last = pending.every((c) => c === '' || c === '.');
      if (t?.node.kind === 'symlink' && (!last || followLast)) {
        if (++hops > MAX_SYMLINK_HOPS) return { found: false, path: here.join('/'), reason: 'loop' };
        const target = t.node.linkname!;
        if (target.startsWith('/')) done.length = 0;
        pending = pending.concat(target.split('/').reverse());
        continue;
      }
      if (!t) return { found: false, path: here.join('/'), reason: 'missing' };
      if (t.node.kind !== 'dir' && !last) return { found: false, path: here.join('/'), reason: 'not-a-directory' };
      done.push(comp);
    }
    const t = this.exact(done);
    return t ? { found: true, path: done.join('/'), node: t.node } : { found: false, path: done.join('/'), reason: 'missing' };
  }
}

function countNodes<C>(t: Trie<C>): number {
  let n = 0;
  const stack = [t];
  while (stack.length > 0) { const x = stack.pop()!; n++; for (const c of x.children?.values() ?? []) stack.push(c); }
  return n;
}
