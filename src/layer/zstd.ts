// zstd for layers, as Node streams. Node 20's zlib has no zstd (it arrives in
// 22.15/23.8), so:
// - decoding: fzstd, a pure-JS streaming decoder (no native build, no WASM;
//   skippable frames -- zstd:chunked's table of contents -- are skipped).
//   ZstdFrameScanner refuses frames whose window exceeds ZSTD_MAX_WINDOW first,
//   so memory stays bounded whatever the blob claims.
// - encoding: @hpcc-js/wasm-zstd, the reference libzstd compiled to WASM. Its
//   one-shot compress() is stateless, so the stream is written as a sequence
//   of independent frames of ZSTD_FRAME_INPUT bytes each (a valid zstd stream,
//   as zstd:chunked is): bounded memory, deterministic output, no shared state
//   between concurrent streams.
import { Transform, type TransformCallback } from 'node:stream';
import { Decompress } from 'fzstd';
import { ZstdFrameError, ZstdFrameScanner, type FrameEvents } from './zstd-frames.ts';

/** zstd's default level (what `zstd` and containers/image use). */
export const ZSTD_LEVEL = 3;
/** Uncompressed bytes per written frame. */
export const ZSTD_FRAME_INPUT = 4 * 1024 * 1024;

/** Input is handed to fzstd in pieces of at least this size: it re-joins a partial block on every push. */
const DECODE_BATCH = 256 * 1024;

export class ZstdDecompress extends Transform {
  private readonly scanner: ZstdFrameScanner;
  private readonly d: Decompress;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  constructor(events: FrameEvents = {}) {
    super();
    this.scanner = new ZstdFrameScanner(events);
    this.d = new Decompress((chunk) => {
      if (chunk.length > 0) this.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    });
  }

  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    try {
      this.scanner.push(chunk);
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.pendingBytes >= DECODE_BATCH) this.d.push(this.takePending(), false);
      cb();
    } catch (err) {
      cb(zstdError(err));
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      if (!this.scanner.atBoundary()) throw new ZstdFrameError('zstd stream ends inside a frame (truncated)');
      this.d.push(this.takePending(), true);
      cb();
    } catch (err) {
      cb(zstdError(err));
    }
  }

  private takePending(): Buffer {
    const b = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes); // one chunk: no copy
    this.pending = [];
    this.pendingBytes = 0;
    return b;
  }
}

function zstdError(err: unknown): Error {
  if (err instanceof ZstdFrameError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new ZstdFrameError(`zstd: ${msg}`);
}

interface WasmZstd { compress(data: Uint8Array, level?: number): Uint8Array }
let wasm: Promise<WasmZstd> | undefined;

function loadWasm(): Promise<WasmZstd> {
  wasm ??= import('@hpcc-js/wasm-zstd').then((m) => m.Zstd.load());
  return wasm;
}

export class ZstdCompress extends Transform {
  private parts: Buffer[] = [];
  private held = 0;
  private frames = 0;
  constructor(private readonly level = ZSTD_LEVEL, private readonly frameInput = ZSTD_FRAME_INPUT) { super(); }

  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.parts.push(chunk);
    this.held += chunk.length;
    if (this.held < this.frameInput) { cb(); return; }
    this.emitFrames(false).then(() => cb(), cb);
  }

  override _flush(cb: TransformCallback): void {
    this.emitFrames(true).then(() => cb(), cb);
  }

  private async emitFrames(final: boolean): Promise<void> {
    const z = await loadWasm();
    let all = Buffer.concat(this.parts, this.held);
    // An empty input still gets one (empty) frame: a zero-byte blob is not a zstd stream.
    while (all.length >= this.frameInput || (final && (all.length > 0 || this.frames === 0))) {
      const n = Math.min(all.length, this.frameInput);
      const out = z.compress(all.subarray(0, n), this.level);
      this.push(Buffer.from(out.buffer, out.byteOffset, out.byteLength));
      all = all.subarray(n);
      this.frames++;
    }
    this.parts = all.length > 0 ? [Buffer.from(all)] : [];
    this.held = all.length;
  }
}
