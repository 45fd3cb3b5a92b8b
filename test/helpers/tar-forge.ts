// Byte-level tar writer for hostile layers: every header format (v7, ustar,
// pax, gnu, star), PAX and GNU long-name records, global headers, any
// typeflag, names as raw bytes, data after the end-of-archive marker.
// Names are latin1 strings (one char per byte) or Buffers.

export type Fmt = 'v7' | 'ustar' | 'gnu' | 'star';

export interface ForgeEntry {
  name: string | Buffer;
  typeflag: string; // one char: '0', '5', '\0', 'x', ...
  data?: Buffer;
  /** Size written in the header (defaults to data length). */
  size?: number;
  linkname?: string | Buffer;
  mode?: number;
  fmt?: Fmt;
  /** Split name into prefix + name (ustar: 155, star: 131) when it fits. */
  usePrefix?: boolean;
}

const bytes = (s: string | Buffer) => (Buffer.isBuffer(s) ? s : Buffer.from(s, 'latin1'));

function octal(n: number, width: number): Buffer {
  return Buffer.from(`${n.toString(8).padStart(width - 1, '0')}\0`, 'latin1');
}

export function headerBlock(e: ForgeEntry): Buffer {
  const h = Buffer.alloc(512);
  const fmt = e.fmt ?? 'ustar';
  let name: Buffer = bytes(e.name);
  let prefix: Buffer = Buffer.alloc(0);
  const prefixMax = fmt === 'ustar' ? 155 : fmt === 'star' ? 131 : 0;
  if (e.usePrefix && prefixMax > 0) {
    for (let i = name.length - 1; i > 0; i--) {
      if (name[i] === 0x2f && i <= prefixMax && name.length - i - 1 <= 100 && name.length - i - 1 > 0) { prefix = name.subarray(0, i); name = name.subarray(i + 1); break; }
    }
  }
  name.subarray(0, 100).copy(h, 0);
  octal(e.mode ?? (e.typeflag === '5' ? 0o755 : 0o644), 8).copy(h, 100);
  octal(0, 8).copy(h, 108); octal(0, 8).copy(h, 116);
  octal(e.size ?? e.data?.length ?? 0, 12).copy(h, 124);
  octal(1000000000, 12).copy(h, 136);
  h.write(e.typeflag, 156, 'latin1');
  if (e.linkname !== undefined) bytes(e.linkname).subarray(0, 100).copy(h, 157);
  if (fmt === 'ustar' || fmt === 'star') { h.write('ustar\0', 257, 'latin1'); h.write('00', 263, 'latin1'); }
  if (fmt === 'gnu') { h.write('ustar ', 257, 'latin1'); h.write(' \0', 263, 'latin1'); }
  if (fmt !== 'v7') { octal(0, 8).copy(h, 329); octal(0, 8).copy(h, 337); }
  if (fmt === 'ustar') prefix.copy(h, 345);
  if (fmt === 'star') { prefix.copy(h, 345); octal(0, 12).copy(h, 476); octal(0, 12).copy(h, 488); h.write('tar\0', 508, 'latin1'); }
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of h) sum += c;
  Buffer.from(`${sum.toString(8).padStart(6, '0')}\0 `, 'latin1').copy(h, 148);
  return h;
}

function pad(n: number): Buffer { return Buffer.alloc((512 - (n % 512)) % 512); }

export function entryBytes(e: ForgeEntry): Buffer {
  const data = e.data ?? Buffer.alloc(0);
  return Buffer.concat([headerBlock(e), data, pad(data.length)]);
}

/** One PAX record "len key=value\n" (value as bytes). */
export function paxRecord(key: string, value: string | Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'latin1'), bytes(value), Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

export function paxEntry(records: [string, string | Buffer][], global = false): Buffer {
  const data = Buffer.concat(records.map(([k, v]) => paxRecord(k, v)));
  return entryBytes({ name: global ? 'pax_global_header' : 'PaxHeaders/x', typeflag: global ? 'g' : 'x', data, fmt: 'ustar' });
}

export function gnuLong(kind: 'L' | 'K', value: string | Buffer): Buffer {
  const data = Buffer.concat([bytes(value), Buffer.from([0])]);
  return entryBytes({ name: '././@LongLink', typeflag: kind, data, fmt: 'gnu' });
}

export const END = Buffer.alloc(1024);

/** `tar` without its end-of-archive zero blocks (to append entries to it). */
export function withoutEnd(tar: Buffer): Buffer {
  let n = tar.length;
  while (n >= 512 && tar.subarray(n - 512, n).every((b) => b === 0)) n -= 512;
  return tar.subarray(0, n);
}
