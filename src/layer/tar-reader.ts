// One tar reader with the semantics of Go's archive/tar (what containerd,
// containers/storage, buildah, podman and umoci read layers with).
//
// API (used by verify, unwrap and wrap through walk.ts; header parsing in tar-header.ts):
//   new TarReader(source: ByteSource)
//   reader.next(): Promise<TarHeader | undefined>   next entry, undefined at end of archive
//   reader.content(): AsyncGenerator<Buffer>        the current entry's data (optional; next() skips the rest)
//   (tar-header.ts: parseHeaderBlock / parsePaxRecords for callers that seek, tar-index.ts)
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
import { BLOCK, MAX_SPECIAL_FILE, TarError, TYPE, cstr, mergePax, parseHeaderBlock, parsePaxRecords, type TarHeader } from './tar-header.ts';
import { expandSparse, readSparseMap1x0, sparseOf, validSparse, type SparseFragment } from './tar-sparse.ts';

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

const HEADER_ONLY = new Set<number>([TYPE.LINK, TYPE.SYMLINK, TYPE.CHAR, TYPE.BLOCK, TYPE.DIR, TYPE.FIFO]);

export class TarReader {
  private remaining = 0;
  private pad = 0;
  private done = false;
  /** The current entry's sparse map and logical size (GNU sparse via PAX). */
  private sparse: { map: SparseFragment[]; size: number } | undefined;
  constructor(private readonly src: ByteSource, private readonly where = 'tar') {}

  /** Bytes of the underlying stream consumed so far. */
  get consumed(): number { return this.src.consumed; }

  private async discard(): Promise<void> {
    this.sparse = undefined;
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
          await this.handleSparse(h);
          return h;
        }
      }
    }
  }

  /** Go handleSparseFile for the PAX formats; also refuses fragments that do not add up to the stored data (Go's errMissData/errUnrefData on extraction). */
  private async handleSparse(h: TarHeader): Promise<void> {
    this.sparse = undefined;
    const sp = sparseOf(h.pax);
    if (sp === undefined) return;
    const bad = (why: string) => new TarError(`${this.where}: sparse entry "${h.name.slice(0, 200)}": ${why}`);
    if (typeof sp === 'string') throw bad(sp);
    if (sp.name !== undefined) h.name = sp.name;
    if (sp.size !== undefined) h.size = sp.size;
    let map: SparseFragment[];
    if (sp.kind.format === '1.0') {
      const r = await readSparseMap1x0(async () => {
        const b = await this.src.read(Math.min(BLOCK, this.remaining));
        this.remaining -= b.length;
        return b;
      }, MAX_SPECIAL_FILE);
      if (typeof r === 'string') throw bad(r);
      map = r.map;
    } else map = sp.kind.map;
    if (HEADER_ONLY.has(h.typeflag) || !validSparse(map, h.size)) throw bad('invalid sparse map');
    const stored = map.reduce((n, f) => n + f.length, 0);
    if (stored !== this.remaining) throw bad(`its fragments hold ${stored} bytes but ${this.remaining} are stored`);
    this.sparse = { map, size: h.size };
    h.sparse = true;
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

  /** The current entry's data (a sparse file's logical content). */
  async *content(): AsyncGenerator<Buffer> {
    if (this.sparse) {
      const { map, size } = this.sparse;
      this.sparse = undefined;
      yield* expandSparse(map, size, (n) => this.physical(n));
      return;
    }
    while (this.remaining > 0) yield await this.physical(1 << 20);
  }

  private async physical(max: number): Promise<Buffer> {
    const c = await this.src.chunk(Math.min(this.remaining, max));
    if (c.length === 0) throw new TarError(`${this.where}: unexpected end of tar data`);
    this.remaining -= c.length;
    return c;
  }
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}
