// The final filesystem view of an image for the paths verify cares about,
// built while layers stream past: OCI whiteouts (`.wh.name`), opaque
// directories (`.wh..wh..opq`), symlinks (resolved at lookup, across layers,
// with a loop limit) and hard links. Only nodes that matter are kept: every
// symlink (any of them may be a path component, like `bin -> usr/bin`), and
// files the caller asks to keep (`keep(path)`), so memory follows the number
// of such entries, not the image size.

export type NodeKind = 'file' | 'dir' | 'symlink' | 'other';

export interface FsNode<C> {
  kind: NodeKind;
  mode: number;
  size: number;
  /** symlink target as stored. */
  linkname?: string;
  /** Index of the layer that put the node there. */
  layer: number;
  /** What the caller recorded about the content (shared by hard links). */
  content?: C;
}

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';
export const MAX_SYMLINK_HOPS = 40;

export type Lookup<C> =
  | { found: true; path: string; node: FsNode<C> }
  | { found: false; path: string; reason: 'missing' | 'loop' | 'not-a-directory' };

export class FsView<C> {
  private readonly nodes = new Map<string, FsNode<C>>();

  /** Record a whiteout or an entry of layer `layer`. Returns true if the entry was a whiteout. */
  applyWhiteout(layer: number, path: string): boolean {
    const slash = path.lastIndexOf('/');
    const dir = slash < 0 ? '' : path.slice(0, slash);
    const base = path.slice(slash + 1);
    if (!base.startsWith(WHITEOUT_PREFIX)) return false;
    if (base === OPAQUE_WHITEOUT) this.removeBelow(dir, layer, false);
    else if (!base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) {
      const target = dir ? `${dir}/${base.slice(WHITEOUT_PREFIX.length)}` : base.slice(WHITEOUT_PREFIX.length);
      this.removeBelow(target, layer, true);
    }
    return true;
  }

  /** Put a node at `path` (replacing what lower layers had there, and their children if it is not a directory). */
  set(path: string, node: FsNode<C>): void {
    if (node.kind !== 'dir') this.removeBelow(path, node.layer, false);
    this.nodes.set(path, node);
  }

  /** Note a directory entry: it replaces a lower non-directory at the same path. */
  setDir(path: string, layer: number): void {
    const old = this.nodes.get(path);
    if (old && old.kind !== 'dir' && old.layer <= layer) this.nodes.delete(path);
  }

  /** Drop the node stored at `path` (after set() replaced what was below it) to keep the view small. */
  forget(path: string): void { this.nodes.delete(path); }

  /** Node stored at exactly this path (no symlink resolution). */
  get(path: string): FsNode<C> | undefined { return this.nodes.get(path); }

  paths(): IterableIterator<string> { return this.nodes.keys(); }

  /** Delete nodes from layers below `layer`: the children of `path`, and `path` itself when `self`. */
  private removeBelow(path: string, layer: number, self: boolean): void {
    if (self) {
      const n = this.nodes.get(path);
      if (n && n.layer < layer) this.nodes.delete(path);
    }
    const prefix = path === '' ? '' : `${path}/`;
    for (const [k, n] of this.nodes) {
      if (k.startsWith(prefix) && k !== path && n.layer < layer) this.nodes.delete(k);
    }
  }

  /**
   * Resolve `path` (absolute or relative to the root) component by component,
   * following symlinks in directories and, when `followLast`, in the last one.
   */
  lookup(path: string, followLast = true): Lookup<C> {
    let pending = path.split('/').filter((p) => p !== '' && p !== '.');
    const done: string[] = [];
    let hops = 0;
    while (pending.length > 0) {
      const [comp, ...rest] = pending;
      pending = rest;
      if (comp === '..') { done.pop(); continue; }
      const here = [...done, comp!].join('/');
      const node = this.nodes.get(here);
      if (node?.kind === 'symlink' && (pending.length > 0 || followLast)) {
        if (++hops > MAX_SYMLINK_HOPS) return { found: false, path: here, reason: 'loop' };
        const target = node.linkname ?? '';
        const tparts = target.split('/').filter((p) => p !== '' && p !== '.');
        if (target.startsWith('/')) done.length = 0;
        pending = [...tparts, ...pending];
        continue;
      }
      if (node && node.kind !== 'dir' && pending.length > 0) return { found: false, path: here, reason: 'not-a-directory' };
      done.push(comp!);
    }
    const final = done.join('/');
    const node = this.nodes.get(final);
    return node ? { found: true, path: final, node } : { found: false, path: final, reason: 'missing' };
  }
}
