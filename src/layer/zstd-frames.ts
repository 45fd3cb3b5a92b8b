// A cheap scanner over a zstd stream's framing (RFC 8878 section 3): it reads
// only frame headers, block headers and skippable-frame headers, skipping
// block bodies, so the decoder can be refused a frame whose window would not
// fit the memory bound before it allocates one. It also reports skippable
// frames (zstd:chunked keeps its table of contents in them).

/** Largest window a frame may ask for: zstd's own default decoder limit (windowLog 27). */
export const ZSTD_MAX_WINDOW = 128 * 1024 * 1024;

export const ZSTD_MAGIC = 0xfd2fb528;          // little-endian on the wire: 28 b5 2f fd
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

export class ZstdFrameError extends Error {}

type State = 'magic' | 'skip-size' | 'skip' | 'fhd' | 'header' | 'block' | 'body' | 'checksum';

export interface FrameEvents {
  /** A skippable frame of `size` content bytes starts at stream offset `offset` (its 8-byte header included). */
  skippable?(offset: number, size: number): void;
}

export class ZstdFrameScanner {
  private state: State = 'magic';
  private need = 4;
  private head: number[] = [];
  private skipLeft = 0;
  private checksum = false;
  private last = false;
  private frameStart = 0;
  private offset = 0;

  constructor(private readonly events: FrameEvents = {}, private readonly maxWindow = ZSTD_MAX_WINDOW) {}

  /** Feed the next compressed bytes; throws ZstdFrameError on a frame the decoder must not see. */
  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.skipLeft > 0) {
        const n = Math.min(this.skipLeft, chunk.length - i);
        this.skipLeft -= n; i += n; this.offset += n;
        if (this.skipLeft === 0) this.advance();
        continue;
      }
      this.head.push(chunk[i]!); i++; this.offset++;
      if (this.head.length === this.need) this.advance();
    }
  }

  /** True when the bytes seen so far end on a frame boundary. */
  atBoundary(): boolean {
    return this.state === 'magic' && this.head.length === 0;
  }

  private take(): number[] { const h = this.head; this.head = []; return h; }

  private expect(state: State, n: number): void {
    this.state = state;
    if (state === 'skip' || state === 'body') { this.skipLeft = n; if (n === 0) this.advance(); } else this.need = n;
  }

  private advance(): void {
    switch (this.state) {
      case 'magic': {
        const h = this.take();
        const m = (h[0]! | (h[1]! << 8) | (h[2]! << 16) | (h[3]! << 24)) >>> 0;
        this.frameStart = this.offset - 4;
        if (m === ZSTD_MAGIC) return this.expect('fhd', 1);
        if (((m & SKIPPABLE_MASK) >>> 0) === SKIPPABLE_MAGIC) return this.expect('skip-size', 4);
        throw new ZstdFrameError(`not a zstd frame at byte ${this.frameStart} (magic ${m.toString(16).padStart(8, '0')})`);
      }
      case 'skip-size': {
        const h = this.take();
        const size = (h[0]! | (h[1]! << 8) | (h[2]! << 16) | (h[3]! << 24)) >>> 0;
        this.events.skippable?.(this.frameStart, size);
        return this.expect('skip', size);
      }
      case 'skip': return this.expect('magic', 4);
      case 'fhd': {
        const fhd = this.head[0]!;
        if (fhd & 0x08) throw new ZstdFrameError(`zstd frame at byte ${this.frameStart} sets the reserved header bit`);
        const single = (fhd >> 5) & 1;
        const didSize = [0, 1, 2, 4][fhd & 3]!;
        const fcsSize = [single, 2, 4, 8][fhd >> 6]!;
        this.checksum = Boolean(fhd & 0x04);
        return this.expect('header', 1 + (single ? 0 : 1) + didSize + fcsSize);
      }
      case 'header': {
        const h = this.take();
        const fhd = h[0]!;
        const single = (fhd >> 5) & 1;
        let window: number;
        if (single) {
          const didSize = [0, 1, 2, 4][fhd & 3]!;
          const fcs = h.slice(1 + didSize);
          window = fcs.reduceRight((acc, b) => acc * 256 + b, 0) + (fcs.length === 2 ? 256 : 0);
        } else {
          const wd = h[1]!;
          const base = 2 ** (10 + (wd >> 3));
          window = base + (base / 8) * (wd & 7);
        }
        if (window > this.maxWindow) {
          throw new ZstdFrameError(`zstd frame at byte ${this.frameStart} needs a ${mib(window)} window, more than the ${mib(this.maxWindow)} xbuild allows`);
        }
        this.last = false;
        return this.expect('block', 3);
      }
      case 'block': {
        const h = this.take();
        const b = h[0]! | (h[1]! << 8) | (h[2]! << 16);
        this.last = Boolean(b & 1);
        const type = (b >> 1) & 3;
        const size = b >>> 3;
        if (type === 3) throw new ZstdFrameError(`zstd block of reserved type in the frame at byte ${this.frameStart}`);
        return this.expect('body', type === 1 ? 1 : size);
      }
      case 'body':
        if (!this.last) return this.expect('block', 3);
        return this.checksum ? this.expect('checksum', 4) : this.expect('magic', 4);
      case 'checksum': this.take(); return this.expect('magic', 4);
    }
  }
}

function mib(n: number): string {
  return n >= 1024 * 1024 ? `${Math.round(n / (1024 * 1024))} MiB` : `${n} bytes`;
}
