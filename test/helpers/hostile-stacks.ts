// Generator of hostile layer stacks for the differential tests: a seeded
// PRNG (mulberry32) picks names from a small pool so entries collide, in every
// encoding (UTF-8, latin1 bytes that are not UTF-8, spaces), link chains
// (relative, absolute, through .., dangling, loops), whiteouts, opaque
// markers, hard links, FIFOs, and writes each entry in a random header format
// (v7, ustar with prefix, gnu with L/K records, pax with path/linkpath,
// star with prefix; pax path plus a GNU L name; data after end-of-archive).
import { END, entryBytes, gnuLong, paxEntry, type Fmt } from './tar-forge.ts';
import type { LayerSpec, StackSpec } from './umoci-diff.ts';

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const POOL = ['a', 'b', 'c', 'bin', 'usr', 'sh', 'n\xff', '\xc3\xa9', 'sp ace', 'l'.repeat(110)];
/** Last components of files: mostly apart from directory names, so fewer layers fail on "parent is a file". */
const LEAVES = ['sh', 'f', 'g', 'x\xff'];
const CONTENTS = ['', 'x', 'shim', 'arm'];

export function generateStack(seed: number): StackSpec {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const chance = (p: number) => r() < p;
  const files: string[] = [];
  const comp = () => (chance(0.05) ? pick(['..', '.']) : pick(POOL.slice(0, chance(0.1) ? POOL.length : POOL.length - 1)));
  const path = (maxDepth = 3, leaf = false) => {
    const n = 1 + Math.floor(r() * maxDepth);
    const parts: string[] = Array.from({ length: n }, comp);
    if (leaf) parts[n - 1] = pick(LEAVES);
    if (!parts.some((p) => p !== '..' && p !== '.')) parts.push('a');
    return parts.join('/');
  };
  const decorate = (p: string, dir = false) => `${chance(0.1) ? pick(['./', '/', '/../']) : ''}${p}${dir && chance(0.5) ? '/' : ''}`;
  const layers: LayerSpec[] = [];
  const nLayers = 1 + Math.floor(r() * 4);
  for (let li = 0; li < nLayers; li++) {
    const parts: Buffer[] = [];
    const nEntries = 1 + Math.floor(r() * 10);
    for (let i = 0; i < nEntries; i++) {
      const k = r();
      let name: string; let typeflag: string; let data: Buffer | undefined; let linkname: string | undefined;
      if (k < 0.3) { name = decorate(path(3, chance(0.8))); typeflag = '0'; data = Buffer.from(pick(CONTENTS)); files.push(name); } else if (k < 0.45) { name = decorate(path(), true); typeflag = '5'; } else if (k < 0.65) {
        name = decorate(path(3, chance(0.5))); typeflag = '2';
        linkname = chance(0.3) ? `/${path(4)}` : chance(0.5) ? `../${path(4)}` : path(4);
      } else if (k < 0.75) {
        name = decorate(path(3, chance(0.8))); typeflag = '1';
        linkname = files.length > 0 && chance(0.9) ? pick(files) : path();
      } else if (k < 0.85) {
        const dir = chance(0.3) ? '' : `${path(2)}/`;
        name = `${dir}.wh.${pick(POOL.slice(0, 8))}`; typeflag = '0';
      } else if (k < 0.93) {
        name = `${chance(0.2) ? '' : `${path(2)}/`}.wh..wh..opq`; typeflag = '0';
      } else if (k < 0.96) { name = decorate(path()); typeflag = '6'; } else { name = decorate(path()); typeflag = '\0'; data = Buffer.from(pick(CONTENTS)); }
      parts.push(encodeEntry(r, { name, typeflag, data, linkname }));
    }
    parts.push(END);
    if (chance(0.1)) parts.push(entryBytes({ name: 'after-end', typeflag: '0', data: Buffer.from('late') }), END);
    layers.push({ tar: Buffer.concat(parts), plain: chance(0.2) });
  }
  return { layers };
}

/** One entry in a random header format. */
function encodeEntry(r: () => number, e: { name: string; typeflag: string; data?: Buffer; linkname?: string }): Buffer {
  const fmts: Fmt[] = ['ustar', 'gnu', 'v7', 'star'];
  const x = r();
  const longName = Buffer.byteLength(e.name, 'latin1') > 100;
  const longLink = (e.linkname?.length ?? 0) > 100;
  const plain = (fmt: Fmt) => entryBytes({ ...e, fmt, usePrefix: true });
  if (x < 0.35 || (longName && x < 0.5)) { // pax
    const recs: [string, string][] = [['path', e.name]];
    if (e.linkname !== undefined) recs.push(['linkpath', e.linkname]);
    if (r() < 0.2) recs.push(['mtime', '1700000000.5']);
    return Buffer.concat([paxEntry(recs), entryBytes({ ...e, name: 'short', linkname: e.linkname === undefined ? undefined : 'short', fmt: 'ustar' })]);
  }
  if (x < 0.5 || longName || longLink) { // gnu long records, sometimes behind a decoy pax path that the L record beats
    const pre: Buffer[] = [];
    if (r() < 0.3) pre.push(paxEntry([['path', 'decoy-pax-name']]));
    pre.push(gnuLong('L', e.name));
    if (e.linkname !== undefined) pre.push(gnuLong('K', e.linkname));
    return Buffer.concat([...pre, entryBytes({ ...e, name: 'trunc', linkname: e.linkname === undefined ? undefined : 'trunc', fmt: 'gnu' })]);
  }
  return plain(fmts[Math.floor(r() * fmts.length)]!);
}
