// Tar header fields as Go's archive/tar parses them (reader.go readHeader,
// strconv.go, format.go): one 512-byte block into a TarHeader, PAX records,
// and PAX records merged into a header. The stream reader is tar-reader.ts;
// tar-index.ts seeks with these functions directly.
import { XbuildError } from '../errors.ts';

export const BLOCK = 512;
/** Go's maxSpecialFileSize: PAX headers and GNU long names above this are ErrFieldTooLong. */
export const MAX_SPECIAL_FILE = 1 << 20;

export const TYPE = {
  REG: 0x30, REGA: 0x00, LINK: 0x31, SYMLINK: 0x32, CHAR: 0x33, BLOCK: 0x34, DIR: 0x35, FIFO: 0x36, CONT: 0x37,
  XHEADER: 0x78, XGLOBAL: 0x67, GNU_LONGNAME: 0x4c, GNU_LONGLINK: 0x4b, GNU_SPARSE: 0x53,
} as const;

export type TarFormat = 'v7' | 'ustar' | 'gnu' | 'star';

export interface TarHeader {
  typeflag: number;
  /** Byte-exact (latin1) name as Go's Header.Name. */
  name: string;
  /** Byte-exact (latin1) link target as Go's Header.Linkname. */
  linkname: string;
  /** Logical size (PAX `size` applied). */
  size: number;
  mode: number;
  uid: number;
  gid: number;
  /** Modification time, whole seconds since the epoch (PAX `mtime` applied). */
  mtime: number;
  format: TarFormat;
  /** PAX records that applied to this entry (keys/values latin1). */
  pax?: Map<string, string>;
  /** Owner and group names, device numbers (empty/0 in v7 headers). */
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** A GNU sparse file (PAX formats 0.0, 0.1, 1.0): `size` is the logical size, content() expands the holes. */
  sparse?: boolean;
}

/** A tar stream that breaks Go's rules: the runtime refuses the layer. */
export class TarError extends XbuildError {
  constructor(message: string) { super('INVALID_IMAGE', message); }
}


// ---- field parsing (Go's parser) ----

/** Go parseString: bytes up to the first NUL. */
export function cstr(b: Buffer): string {
  const z = b.indexOf(0);
  return (z < 0 ? b : b.subarray(0, z)).toString('latin1');
}

/** Go parseOctal (trim spaces and NULs, cut at the first NUL, base 8); undefined where Go sets ErrHeader or beyond 2^53. */
function parseOctal(b: Buffer): number | undefined {
  let a = 0; let z = b.length;
  while (a < z && (b[a] === 0x20 || b[a] === 0)) a++;
  while (z > a && (b[z - 1] === 0x20 || b[z - 1] === 0)) z--;
  if (a === z) return 0;
  let v = 0;
  for (let i = a; i < z; i++) {
    const c = b[i]!;
    if (c === 0) break;
    if (c < 0x30 || c > 0x37) return undefined;
    v = v * 8 + (c - 0x30);
  }
  return Number.isSafeInteger(v) ? v : undefined;
}

/** Go parseNumeric: base-256 when the top bit is set, else octal. */
function parseNumeric(b: Buffer): number | undefined {
  if (b.length > 0 && (b[0]! & 0x80) !== 0) {
    const inv = (b[0]! & 0x40) !== 0 ? 0xff : 0;
    let x = 0n;
    for (let i = 0; i < b.length; i++) {
      let c = b[i]! ^ inv;
      if (i === 0) c &= 0x7f;
      if ((x >> 56n) > 0n) return undefined;
      x = (x << 8n) | BigInt(c);
    }
    if ((x >> 63n) > 0n) return undefined;
    const v = inv ? -Number(x) - 1 : Number(x);
    return Number.isSafeInteger(v) ? v : undefined;
  }
  return parseOctal(b);
}

/** Go strconv.ParseInt(s, 10, 64) for the values we use; undefined on error or beyond 2^53. */
export function parseDecimal(s: string): number | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const v = Number(s);
  return Number.isSafeInteger(v) ? v : undefined;
}

function checksumOk(h: Buffer): boolean {
  const want = parseOctal(h.subarray(148, 156));
  if (want === undefined) return false;
  let u = 0; let s = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : h[i]!;
    u += c; s += c > 127 ? c - 256 : c;
  }
  return want === u || want === s;
}

function formatOf(h: Buffer): TarFormat | undefined {
  if (!checksumOk(h)) return undefined;
  const magic = h.toString('latin1', 257, 263);
  const version = h.toString('latin1', 263, 265);
  const trailer = h.toString('latin1', 508, 512);
  if (magic === 'ustar\0' && trailer === 'tar\0') return 'star';
  if (magic === 'ustar\0') return 'ustar';
  if (magic === 'ustar ' && version === ' \0') return 'gnu';
  return 'v7';
}

/** One header block as Go's readHeader sees it; throws TarError where Go returns ErrHeader. */
export function parseHeaderBlock(h: Buffer, where = 'tar'): TarHeader {
  const format = formatOf(h);
  if (!format) throw new TarError(`${where}: invalid tar header (bad checksum)`);
  const size = parseNumeric(h.subarray(124, 136));
  const mode = parseNumeric(h.subarray(100, 108));
  const nums = [size, mode, parseNumeric(h.subarray(108, 116)), parseNumeric(h.subarray(116, 124)), parseNumeric(h.subarray(136, 148))];
  let name = cstr(h.subarray(0, 100));
  if (format !== 'v7') {
    nums.push(parseNumeric(h.subarray(329, 337)), parseNumeric(h.subarray(337, 345)));
    let prefix = '';
    if (format === 'ustar') prefix = cstr(h.subarray(345, 500));
    else if (format === 'star') {
      prefix = cstr(h.subarray(345, 476));
      nums.push(parseNumeric(h.subarray(476, 488)), parseNumeric(h.subarray(488, 500)));
    } else { // GNU: atime/ctime parsed leniently; if unparsable and the prefix looks like ASCII, pre-Go1.8 writers put a prefix there
      const at = h.subarray(345, 357); const ct = h.subarray(357, 369);
      const bad = (at[0] !== 0 && parseNumeric(at) === undefined) || (ct[0] !== 0 && parseNumeric(ct) === undefined);
      if (bad) { const p = cstr(h.subarray(345, 500)); if (/^[\x00-\x7f]*$/.test(p)) prefix = p; }
    }
    if (prefix.length > 0) name = `${prefix}/${name}`;
  }
  if (nums.some((n) => n === undefined)) throw new TarError(`${where}: invalid tar header (bad numeric field in "${name.slice(0, 100)}")`);
  const v7 = format === 'v7';
  return {
    typeflag: h[156]!, name, linkname: cstr(h.subarray(157, 257)), size: size!, mode: mode!, uid: nums[2]!, gid: nums[3]!, mtime: nums[4]!, format,
    uname: v7 ? '' : cstr(h.subarray(265, 297)), gname: v7 ? '' : cstr(h.subarray(297, 329)), devmajor: v7 ? 0 : nums[5]!, devminor: v7 ? 0 : nums[6]!,
  };
}

/** Go parsePAX + parsePAXRecord + validPAXRecord over one record block (≤ MAX_SPECIAL_FILE). */
export function parsePaxRecords(data: Buffer, where = 'tar'): Map<string, string> {
  const out = new Map<string, string>();
  const sparse: string[] = [];
  let s = data.toString('latin1');
  const bad = () => new TarError(`${where}: invalid PAX record`);
  while (s.length > 0) {
    const sp = s.indexOf(' ');
    if (sp < 0) throw bad();
    const n = parseDecimal(s.slice(0, sp));
    if (n === undefined || n < 5 || n > s.length || n - (sp + 1) <= 0) throw bad();
    const rec = s.slice(sp + 1, n - 1);
    if (s[n - 1] !== '\n') throw bad();
    s = s.slice(n);
    const eq = rec.indexOf('=');
    if (eq < 0) throw bad();
    const k = rec.slice(0, eq); const v = rec.slice(eq + 1);
    if (k === '') throw bad();
    if (['path', 'linkpath', 'uname', 'gname'].includes(k) ? v.includes('\0') : k.includes('\0')) throw bad();
    if (k === 'GNU.sparse.offset' || k === 'GNU.sparse.numbytes') {
      if ((sparse.length % 2 === 0) !== (k === 'GNU.sparse.offset') || v.includes(',')) throw bad();
      sparse.push(v);
    } else out.set(k, v);
  }
  if (sparse.length > 0) out.set('GNU.sparse.map', sparse.join(','));
  return out;
}

function validPaxTime(v: string): boolean {
  const dot = v.indexOf('.');
  const secs = dot < 0 ? v : v.slice(0, dot);
  if (!/^[+-]?[0-9]+$/.test(secs)) return false;
  return dot < 0 || /^[0-9]*$/.test(v.slice(dot + 1));
}

/** Go mergePAX: returns an error message or undefined. */
export function mergePax(h: TarHeader, pax: Map<string, string>): string | undefined {
  for (const [k, v] of pax) {
    if (v === '') continue;
    switch (k) {
      case 'path': h.name = v; break;
      case 'linkpath': h.linkname = v; break;
      case 'uname': h.uname = v; break;
      case 'gname': h.gname = v; break;
      case 'uid': case 'gid': if (!/^[+-]?[0-9]+$/.test(v)) return `PAX ${k}`; h[k] = Number(v); break;
      case 'atime': case 'mtime': case 'ctime': if (!validPaxTime(v)) return `PAX ${k}`; if (k === 'mtime') h.mtime = Math.floor(Number(v)); break;
      case 'size': { const n = parseDecimal(v); if (n === undefined) return 'PAX size'; h.size = n; break; }
      default: break;
    }
  }
  h.pax = pax;
  return undefined;
}
