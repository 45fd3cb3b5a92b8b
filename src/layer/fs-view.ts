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

interface Trie<C> { node?: FsNode<C>; children?: Map<string, Trie<C>> }

export class FsView<C> {
  /** Nodes in a tree of path components: replacement and whiteouts touch only the subtree concerned. */
  private readonly root: Trie<C> = {};

  /** Record a whiteout of layer `layer`. Returns true if the entry was a whiteout (and must not be stored). */
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
    this.trie(path, true)!.node = node;
  }

  /**
   * A non-directory entry verify does not keep: it still hides what lower
   * layers had at `path` (and below), but nothing is stored for it.
   */
  shadow(path: string, layer: number): void {
    this.removeBelow(path, layer, false);
    const t = this.trie(path, false);
    if (t) { t.node = undefined; this.prune(path); }
  }

  /** Note a directory entry: it replaces a lower non-directory at the same path. */
  setDir(path: string, layer: number): void {
    const t = this.trie(path, false);
    if (t?.node && t.node.kind !== 'dir' && t.node.layer <= layer) { t.node = undefined; this.prune(path); }
  }

  /** Node stored at exactly this path (no symlink resolution). */
  get(path: string): FsNode<C> | undefined { return this.trie(path, false)?.node; }

  /** Every stored path (depth first). */
  *paths(): IterableIterator<string> {
    const stack: [string, Trie<C>][] = [['', this.root]];
    while (stack.length > 0) {
      const [p, t] = stack.pop()!;
      if (t.node && p !== '') yield p;
      for (const [name, child] of t.children ?? []) stack.push([p === '' ? name : `${p}/${name}`, child]);
    }
  }

  private trie(path: string, create: boolean): Trie<C> | undefined {
    let t = this.root;
    if (path === '') return t;
    for (const comp of path.split('/')) {
      let next = t.children?.get(comp);
      if (!next) {
        if (!create) return undefined;
        next = {};
        (t.children ??= new Map()).set(comp, next);
      }
      t = next;
    }
    return t;
  }

  /** Drop empty trie nodes along `path`. */
  private prune(path: string): void {
    const comps = path === '' ? [] : path.split('/');
    const chain: Trie<C>[] = [this.root];
    for (const c of comps) {
      const next = chain[chain.length - 1]!.children?.get(c);
      if (!next) return;
      chain.push(next);
    }
    for (let i = comps.length; i > 0; i--) {
      const t = chain[i]!;
      if (t.node || (t.children && t.children.size > 0)) return;
      chain[i - 1]!.children!.delete(comps[i - 1]!);
    }
  }

  /** Delete nodes from layers below `layer`: the children of `path`, and `path` itself when `self`. */
  private removeBelow(path: string, layer: number, self: boolean): void {
    const t = this.trie(path, false);
    if (!t) return;
    if (self && t.node && t.node.layer < layer) t.node = undefined;
    const sweep = (x: Trie<C>): boolean => { // returns true when x became empty
      for (const [name, child] of x.children ?? []) {
        if (child.node && child.node.layer < layer) child.node = undefined;
        if (sweep(child)) x.children!.delete(name);
      }
      return !x.node && (!x.children || x.children.size === 0);
    };
    sweep(t);
    this.prune(path);
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
      const node = this.get(here);
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
    const node = this.get(final);
    return node ? { found: true, path: final, node } : { found: false, path: final, reason: 'missing' };
  }
}
