// GNU sparse files stored in PAX form (formats 0.0, 0.1 and 1.0, what
// `tar --format=pax --sparse` writes), read as Go's archive/tar reads them
// (reader.go handleSparseFile / readGNUSparsePAXHeaders): the entry's name is
// GNU.sparse.name, its size GNU.sparse.size (or .realsize), its content the
// data fragments placed at their offsets with zeros in the holes. The 1.0
// map sits at the start of the entry's data, in 512-byte blocks.
//
// Where Go reports errMissData / errUnrefData only to a reader that copies the
// content (every runtime does, on extraction), the fragments are checked
// against the stored data here at the header, so a skipped entry is judged as
// an extracted one. The 1.0 map is capped at MAX_SPECIAL_FILE bytes (memory
// bounded; GNU tar writes 2 numbers per fragment).

import { parseDecimal } from './tar-header.ts';

export interface SparseFragment { offset: number; length: number }

export type SparseKind = { format: '0.x'; map: SparseFragment[] } | { format: '1.0' };

const int = (s: string | undefined): number | undefined => (s === undefined ? undefined : parseDecimal(s));

/**
 * The sparse format an entry's PAX records declare, with the name and logical
 * size they set; undefined for an ordinary entry; a string (the reason) where
 * Go returns ErrHeader.
 */
export function sparseOf(pax: Map<string, string> | undefined): { kind: SparseKind; name?: string; size?: number } | string | undefined {
  if (!pax) return undefined;
  const major = pax.get('GNU.sparse.major') ?? ''; const minor = pax.get('GNU.sparse.minor') ?? '';
  let v1: boolean;
  if (major === '0' && (minor === '0' || minor === '1')) v1 = false;
  else if (major === '1' && minor === '0') v1 = true;
  else if (major !== '' || minor !== '') return undefined; // unknown version: Go reads the entry as it is
  else if ((pax.get('GNU.sparse.map') ?? '') !== '') v1 = false;
  else return undefined;
  const name = pax.get('GNU.sparse.name') || undefined;
  const sizeText = pax.get('GNU.sparse.size') || pax.get('GNU.sparse.realsize') || undefined;
  const size = sizeText === undefined ? undefined : int(sizeText);
  if (sizeText !== undefined && size === undefined) return 'bad GNU.sparse.size';
  if (v1) return { kind: { format: '1.0' }, ...(name !== undefined ? { name } : {}), ...(size !== undefined ? { size } : {}) };
  const n = int(pax.get('GNU.sparse.numblocks'));
  if (n === undefined || n < 0) return 'bad GNU.sparse.numblocks';
  const text = pax.get('GNU.sparse.map') ?? '';
  const parts = text === '' ? [] : text.split(',');
  if (parts.length !== 2 * n) return 'GNU.sparse.map does not match GNU.sparse.numblocks';
  const map = pairs(parts);
  if (typeof map === 'string') return map;
  return { kind: { format: '0.x', map }, ...(name !== undefined ? { name } : {}), ...(size !== undefined ? { size } : {}) };
}

function pairs(parts: string[]): SparseFragment[] | string {
  const map: SparseFragment[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const offset = int(parts[i]); const length = int(parts[i + 1]);
    if (offset === undefined || length === undefined) return 'bad number in the sparse map';
    map.push({ offset, length });
  }
  return map;
}

/** Go readGNUSparseMap1x0: newline-separated decimals in whole 512-byte blocks read by `block()`; returns the map and the bytes read. */
export async function readSparseMap1x0(block: () => Promise<Buffer>, limit: number): Promise<{ map: SparseFragment[]; read: number } | string> {
  let text = ''; let read = 0; let newlines = 0;
  const feed = async (want: number): Promise<string | undefined> => {
    while (newlines < want) {
      if (read + 512 > limit) return `sparse map larger than ${limit} bytes`;
      const b = await block();
      if (b.length < 512) return 'unexpected end of tar data in the sparse map';
      read += 512;
      const s = b.toString('latin1');
      text += s;
      for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 10) newlines++;
    }
    return undefined;
  };
  const token = (): string => { const nl = text.indexOf('\n'); const t = text.slice(0, nl); text = text.slice(nl + 1); newlines--; return t; };
  const e1 = await feed(1);
  if (e1) return e1;
  const n = int(token());
  if (n === undefined || n < 0) return 'bad entry count in the sparse map';
  const e2 = await feed(2 * n);
  if (e2) return e2;
  const parts: string[] = [];
  for (let i = 0; i < 2 * n; i++) parts.push(token());
  const map = pairs(parts);
  return typeof map === 'string' ? map : { map, read };
}

/** Go validateSparseEntries: in order, not overlapping, inside the logical size. */
export function validSparse(map: SparseFragment[], size: number): boolean {
  if (size < 0) return false;
  let end = 0;
  for (const f of map) {
    if (f.offset < 0 || f.length < 0 || !Number.isSafeInteger(f.offset + f.length) || f.offset + f.length > size || end > f.offset) return false;
    end = f.offset + f.length;
  }
  return true;
}

const ZEROS = Buffer.alloc(1 << 16);

/** The logical content: `data` yields the stored fragments' bytes (at most `n` at a time), holes are zeros. */
export async function* expandSparse(map: SparseFragment[], size: number, data: (n: number) => Promise<Buffer>): AsyncGenerator<Buffer> {
  let pos = 0;
  const zeros = function* (to: number): Generator<Buffer> {
    while (pos < to) { const n = Math.min(to - pos, ZEROS.length); pos += n; yield ZEROS.subarray(0, n); }
  };
  for (const f of map) {
    yield* zeros(f.offset);
    let left = f.length;
    while (left > 0) {
      const c = await data(Math.min(left, 1 << 20));
      left -= c.length; pos += c.length;
      yield c;
    }
  }
  yield* zeros(size);
}
