// Random access to an ELF file's bytes: either the whole file (a Buffer) or a
// sparse capture taken while a tar stream passes (verify never buffers whole
// large files; it keeps the head and the segments the inspector reads).
import { createHash } from 'node:crypto';
import { ELFCLASS64, PT_DYNAMIC, PT_INTERP, PT_NOTE } from './constants.ts';

export interface ElfBytes {
  /** Size of the whole file. */
  readonly size: number;
  /** Bytes [offset, offset+length) if they were kept; undefined if not kept or out of the file. */
  read(offset: number, length: number): Buffer | undefined;
  /** The whole file when it is in memory (the elfy adapter needs it). */
  readonly whole?: Buffer;
}

export function bytesOf(buf: Buffer): ElfBytes {
  return {
    size: buf.length,
    whole: buf,
    read: (offset, length) => (offset >= 0 && length >= 0 && offset + length <= buf.length
      ? buf.subarray(offset, offset + length) : undefined),
  };
}

export interface CaptureLimits {
  /** Files up to this size are kept whole (default 8 MiB). */
  wholeFileMax: number;
  /** Bytes kept from the start of larger files (ELF header, program headers, early notes). */
  headBytes: number;
  /** At most this many bytes are kept per PT_INTERP / PT_NOTE / PT_DYNAMIC segment. */
  segmentMax: number;
}
export const DEFAULT_CAPTURE_LIMITS: CaptureLimits = { wholeFileMax: 8 << 20, headBytes: 256 << 10, segmentMax: 64 << 10 };

interface Range { start: number; end: number; parts: Buffer[]; filled: number }

/**
 * Consumes a file's bytes in order (chunks from a tar entry) and keeps only
 * what the inspector needs; memory is bounded by the limits whatever the file
 * size. Also hashes the whole content (sha256) on the way.
 */
export class ElfCapture {
  private readonly hash = createHash('sha256');
  private pos = 0;
  private readonly whole: Buffer[] | undefined;
  private readonly ranges: Range[] = [];
  private planned = false;

  constructor(readonly size: number, private readonly limits: CaptureLimits = DEFAULT_CAPTURE_LIMITS) {
    if (size <= limits.wholeFileMax) this.whole = [];
    else this.ranges.push({ start: 0, end: Math.min(size, limits.headBytes), parts: [], filled: 0 });
  }

  push(chunk: Buffer): void {
    this.hash.update(chunk);
    const start = this.pos;
    this.pos = start + chunk.length;
    if (this.whole) { this.whole.push(chunk); return; }
    this.fill(this.ranges, chunk, start);
    const head = this.ranges[0];
    if (!this.planned && head && head.filled === head.end - head.start) {
      // the segments may start inside this very chunk (or inside the head): plan, then feed them the same chunk
      const added = this.plan(Buffer.concat(head.parts));
      this.fill(added, chunk, start);
    }
  }

  private fill(ranges: Range[], chunk: Buffer, start: number): void {
    const end = start + chunk.length;
    for (const r of ranges) {
      const a = Math.max(start, r.start + r.filled);
      const b = Math.min(end, r.end);
      if (a < b && a === r.start + r.filled) { r.parts.push(Buffer.from(chunk.subarray(a - start, b - start))); r.filled += b - a; }
    }
  }

  /** Once the head is in, add the program-header-named segments past it (a segment that begins inside the head starts with the head's bytes). */
  private plan(head: Buffer): Range[] {
    this.planned = true;
    const added: Range[] = [];
    if (head.length < 52 || head.readUInt32BE(0) !== 0x7f454c46) return added;
    const is64 = head[4] === ELFCLASS64;
    const le = head[5] !== 2;
    const u16 = (o: number) => (le ? head.readUInt16LE(o) : head.readUInt16BE(o));
    const u32 = (o: number) => (le ? head.readUInt32LE(o) : head.readUInt32BE(o));
    const u64 = (o: number) => Number(le ? head.readBigUInt64LE(o) : head.readBigUInt64BE(o));
    if (is64 && head.length < 64) return added;
    const phoff = is64 ? u64(32) : u32(28);
    const phentsize = u16(is64 ? 54 : 42);
    const phnum = u16(is64 ? 56 : 44);
    for (let i = 0; i < phnum; i++) {
      const o = phoff + i * phentsize;
      if (o + (is64 ? 56 : 32) > head.length) break;
      const type = u32(o);
      if (type !== PT_INTERP && type !== PT_NOTE && type !== PT_DYNAMIC) continue;
      const start = is64 ? u64(o + 8) : u32(o + 4);
      const filesz = is64 ? u64(o + 32) : u32(o + 16);
      const end = Math.min(this.size, start + Math.min(filesz, this.limits.segmentMax));
      if (end <= head.length || end <= start) continue; // inside the head, or empty
      const r: Range = { start, end, parts: [], filled: 0 };
      if (start < head.length) { r.parts.push(Buffer.from(head.subarray(start))); r.filled = head.length - start; }
      added.push(r);
    }
    this.ranges.push(...added);
    return added;
  }

  /** sha256 of everything pushed, "sha256:<hex>". Call once, after the last push. */
  digest(): string { return `sha256:${this.hash.digest('hex')}`; }

  bytes(): ElfBytes {
    if (this.whole) return bytesOf(Buffer.concat(this.whole));
    const kept = this.ranges.filter((r) => r.filled > 0).map((r) => ({ start: r.start, buf: Buffer.concat(r.parts) }));
    const size = this.size;
    return {
      size,
      read(offset, length) {
        if (offset < 0 || length < 0 || offset + length > size) return undefined;
        for (const k of kept) {
          if (offset >= k.start && offset + length <= k.start + k.buf.length) return k.buf.subarray(offset - k.start, offset - k.start + length);
        }
        return undefined;
      },
    };
  }
}
