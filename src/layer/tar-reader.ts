// One tar reader with the semantics of Go's archive/tar (what containerd,
// containers/storage, buildah, podman and umoci read layers with).
//
// API (used by verify, unwrap and the docker-archive reader):
//   new TarReader(source: ByteSource)
//   reader.next(): Promise<TarHeader | undefined>   next entry, undefined at end of archive
//   reader.content(): AsyncGenerator<Buffer>        the current entry's data (optional; next() skips the rest)
//   parseHeaderBlock(block) / parsePaxRecords(data) for callers that seek (tar-index.ts)
//   ByteSource.from(asyncIterable)                  wraps a stream; `consumed` counts bytes read
//
// Go's rules kept here, on purpose byte for byte:
// - end of archive is the first all-zero block followed by another zero block
//   (or EOF); a zero block followed by a non-zero one is an error; nothing
//   after the end marker is an entry (the caller decides about trailing bytes);
// - checksum as unsigned or signed sum; format from magic/version/trailer:
//   STAR (ustar\0 + "tar\0" trailer: 131-byte prefix), USTAR/PAX (155-byte
//   prefix), GNU ("ustar " + " \0": no prefix), else V7 (no prefix);
// - PAX `x` records apply to the next entry only (a later `x` replaces the
//   map); an empty PAX value keeps the header's value; GNU `L`/`K` win over
//   PAX path/linkpath; PAX `g` (global) is returned as its own entry with
//   typeflag 'g' and is never folded into the next one;
// - typeflag NUL becomes '5' when the name ends in '/', else '0'; after that
//   the data size of header-only types (links, devices, dirs, fifos) is 0, so
//   bytes a writer put there are read as the next header (as Go does);
// - PAX records and GNU long names above 1 MiB are refused (Go's
//   maxSpecialFileSize), before anything is allocated for them.
// Names are kept byte-exact as latin1 strings (one char per byte): two names
// that differ in bytes never compare equal, whatever their encoding.
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
}

/** A tar stream that breaks Go's rules: the runtime refuses the layer. */
export class TarError extends XbuildError {
  constructor(message: string) { super('INVALID_IMAGE', message); }
}

/** Pull-based reader over a stream of chunks, counting bytes consumed. */
export class ByteSource {
  private readonly it: AsyncIterator<Buffer | string>;
  private buf: Buffer = Buffer.alloc(0);
  private eof = false;
  consumed = 0;
  constructor(it: AsyncIterator<Buffer | string>) { this.it = it; }
  static from(src: AsyncIterable<Buffer | string>): ByteSource { return new ByteSource(src[Symbol.asyncIterator]()); }

  private async fill(): Promise<boolean> {
    if (this.eof) return false;
    const r = await this.it.next();
    if (r.done) { this.eof = true; return false; }
    const c = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    this.buf = this.buf.length === 0 ? c : Buffer.concat([this.buf, c]);
    return true;
  }

  /** Up to `n` bytes (fewer only at EOF). */
  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n && await this.fill());
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(out.length);
    this.consumed += out.length;
    return out;
  }

  /** Hand out at most `max` bytes as they arrive (at least 1 unless EOF). */
  async chunk(max: number): Promise<Buffer> {
    if (this.buf.length === 0 && !await this.fill()) return Buffer.alloc(0);
    const out = this.buf.subarray(0, Math.min(max, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    this.consumed += out.length;
    return out;
  }

  /** Skip `n` bytes; returns how many were there. */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      const c = await this.chunk(Math.min(left, 1 << 20));
      if (c.length === 0) break;
      left -= c.length;
    }
    return n - left;
  }
}

// ---- field parsing (Go's parser) ----

/** Go parseString: bytes up to the first NUL. */
function cstr(b: Buffer): string {
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
function parseDecimal(s: string): number | undefined {
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
  return { typeflag: h[156]!, name, linkname: cstr(h.subarray(157, 257)), size: size!, mode: mode!, uid: nums[2]!, gid: nums[3]!, mtime: nums[4]!, format };
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
function mergePax(h: TarHeader, pax: Map<string, string>): string | undefined {
  for (const [k, v] of pax) {
    if (v === '') continue;
    switch (k) {
      case 'path': h.name = v; break;
      case 'linkpath': h.linkname = v; break;
      case 'uid': case 'gid': if (!/^[+-]?[0-9]+$/.test(v)) return `PAX ${k}`; h[k] = Number(v); break;
      case 'atime': case 'mtime': case 'ctime': if (!validPaxTime(v)) return `PAX ${k}`; if (k === 'mtime') h.mtime = Math.floor(Number(v)); break;
      case 'size': { const n = parseDecimal(v); if (n === undefined) return 'PAX size'; h.size = n; break; }
      default: break;
    }
  }
  h.pax = pax;
  return undefined;
}

const HEADER_ONLY = new Set<number>([TYPE.LINK, TYPE.SYMLINK, TYPE.CHAR, TYPE.BLOCK, TYPE.DIR, TYPE.FIFO]);

export class TarReader {
  private remaining = 0;
  private pad = 0;
  private done = false;
  constructor(private readonly src: ByteSource, private readonly where = 'tar') {}

  /** Bytes of the underlying stream consumed so far. */
  get consumed(): number { return this.src.consumed; }

  private async discard(): Promise<void> {
    const want = this.remaining;
    const got = await this.src.skip(want);
    this.remaining = 0;
    if (got < want) throw new TarError(`${this.where}: unexpected end of tar data`);
    await this.src.skip(this.pad); // Go: EOF inside padding is fine here
    this.pad = 0;
  }

  private async readSpecial(size: number): Promise<Buffer> {
    if (size > MAX_SPECIAL_FILE) throw new TarError(`${this.where}: PAX or GNU long-name header of ${size} bytes (the limit is ${MAX_SPECIAL_FILE}, as Go's archive/tar)`);
    const data = await this.src.read(size);
    if (data.length < size) throw new TarError(`${this.where}: unexpected end of tar data`);
    this.remaining = 0;
    return data;
  }

  private setData(h: TarHeader): void {
    const nb = HEADER_ONLY.has(h.typeflag) ? 0 : h.size;
    if (nb < 0) throw new TarError(`${this.where}: negative size in "${h.name}"`);
    this.remaining = nb;
    this.pad = (BLOCK - (nb % BLOCK)) % BLOCK;
  }

  /** The next entry, or undefined at the end of the archive (Go's io.EOF). */
  async next(): Promise<TarHeader | undefined> {
    if (this.done) return undefined;
    let pax: Map<string, string> | undefined;
    let longName = ''; let longLink = '';
    for (;;) {
      await this.discard();
      const h = await this.readHeader();
      if (!h) { this.done = true; return undefined; }
      this.setData(h);
      switch (h.typeflag) {
        case TYPE.XHEADER: case TYPE.XGLOBAL: {
          const recs = parsePaxRecords(await this.readSpecial(h.size), this.where);
          if (h.typeflag === TYPE.XGLOBAL) {
            const err = mergePax(h, recs);
            if (err) throw new TarError(`${this.where}: invalid ${err} record`);
            return h;
          }
          pax = recs;
          continue;
        }
        case TYPE.GNU_LONGNAME: case TYPE.GNU_LONGLINK: {
          const v = cstr(await this.readSpecial(h.size));
          if (h.typeflag === TYPE.GNU_LONGNAME) longName = v; else longLink = v;
          continue;
        }
        default: {
          if (pax) { const err = mergePax(h, pax); if (err) throw new TarError(`${this.where}: invalid ${err} record`); }
          if (longName !== '') h.name = longName;
          if (longLink !== '') h.linkname = longLink;
          if (h.typeflag === TYPE.REGA) h.typeflag = h.name.endsWith('/') ? TYPE.DIR : TYPE.REG;
          this.setData(h);
          return h;
        }
      }
    }
  }

  private async readHeader(): Promise<TarHeader | undefined> {
    let b = await this.src.read(BLOCK);
    if (b.length === 0) return undefined;
    if (b.length < BLOCK) throw new TarError(`${this.where}: unexpected end of tar data`);
    if (isZero(b)) {
      b = await this.src.read(BLOCK);
      if (b.length === 0) return undefined;
      if (b.length < BLOCK) throw new TarError(`${this.where}: unexpected end of tar data`);
      if (isZero(b)) return undefined;
      throw new TarError(`${this.where}: invalid tar header (a zero block followed by data)`);
    }
    return parseHeaderBlock(b, this.where);
  }

  /** The current entry's data. */
  async *content(): AsyncGenerator<Buffer> {
    while (this.remaining > 0) {
      const c = await this.src.chunk(Math.min(this.remaining, 1 << 20));
      if (c.length === 0) throw new TarError(`${this.where}: unexpected end of tar data`);
      this.remaining -= c.length;
      yield c;
    }
  }
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}
