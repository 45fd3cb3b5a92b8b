// Random access into an uncompressed tar file: one pass over the 512-byte
// headers (contents are skipped with seeks, never read), then each member is
// opened as a byte range of the file. Handles ustar prefix, pax `path` and
// GNU long names, and symlinks/hardlinks between members (docker save uses them).
import { open } from 'node:fs/promises';
import { posix } from 'node:path';
import { XbuildError } from '../errors.ts';

/** Largest PAX / GNU long-name record read into memory (Go archive/tar maxSpecialFileSize). */
export const MAX_SPECIAL_FILE_SIZE = 1024 * 1024;

export interface TarMember { name: string; offset: number; size: number; type: 'file' | 'dir' | 'link' | 'other'; linkname?: string }

function cstr(b: Buffer, start: number, len: number): string {
  const s = b.subarray(start, start + len);
  const z = s.indexOf(0);
  return (z === -1 ? s : s.subarray(0, z)).toString('utf8');
}

function num(b: Buffer, start: number, len: number): number {
  const f = b.subarray(start, start + len);
  if (f[0]! & 0x80) { // base-256 (a negative or unsafe value is refused by the caller's bounds check)
    if (f[0]! & 0x40) return -1;
    let v = f[0]! & 0x3f;
    for (let i = 1; i < f.length; i++) v = v * 256 + f[i]!;
    return Number.isSafeInteger(v) ? v : -1;
  }
  const t = cstr(b, start, len).trim();
  return t === '' ? 0 : parseInt(t, 8);
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp === -1) break;
    const len = parseInt(data.subarray(i, sp).toString(), 10);
    if (!len) break;
    const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

export async function indexTar(file: string): Promise<Map<string, TarMember>> {
  const fh = await open(file, 'r').catch((e: NodeJS.ErrnoException) => {
    throw new XbuildError(e.code === 'ENOENT' ? 'NOT_FOUND' : 'IO', `cannot open ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  });
  const members = new Map<string, TarMember>();
  try {
    const { size: fileSize } = await fh.stat();
    const h = Buffer.alloc(512);
    let off = 0; let longName: string | undefined; let pax: Record<string, string> = {};
    for (;;) {
      if (off + 512 > fileSize) throw new XbuildError('INVALID_IMAGE', `${file}: truncated tar archive`);
      await fh.read(h, 0, 512, off);
      if (h.every((x) => x === 0)) break;
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
      if (sum !== num(h, 148, 8)) throw new XbuildError('INVALID_IMAGE', `${file}: not a tar archive (bad header checksum at offset ${off})`);
      const size = num(h, 124, 12);
      const flag = String.fromCharCode(h[156]!);
      const dataOff = off + 512;
      if (!(size >= 0) || dataOff + size > fileSize) {
        throw new XbuildError('INVALID_IMAGE', `${file}: tar header at offset ${off} claims ${size < 0 ? 'an impossible size' : `${size} bytes`}, past the end of the ${fileSize}-byte file`);
      }
      const next = dataOff + Math.ceil(size / 512) * 512;
      if (flag === 'L' || flag === 'x') {
        // Go's archive/tar caps these at 1 MiB (maxSpecialFileSize)
        if (size > MAX_SPECIAL_FILE_SIZE) throw new XbuildError('INVALID_IMAGE', `${file}: tar ${flag === 'x' ? 'PAX' : 'GNU long-name'} header at offset ${off} is ${size} bytes (at most ${MAX_SPECIAL_FILE_SIZE})`);
        const data = Buffer.alloc(size);
        await fh.read(data, 0, size, dataOff);
        if (flag === 'L') longName = cstr(data, 0, size); else pax = parsePax(data);
        off = next; continue;
      }
      if (flag === 'g') { off = next; continue; }
      let name = cstr(h, 0, 100);
      if (cstr(h, 257, 6) === 'ustar') { const prefix = cstr(h, 345, 155); if (prefix) name = `${prefix}/${name}`; }
      if (longName) name = longName;
      if (pax.path) name = pax.path;
      const linkname = pax.linkpath ?? cstr(h, 157, 100);
      name = posix.normalize(name.replace(/^\.\//, '')).replace(/\/$/, '');
      const type = flag === '0' || flag === '\0' || flag === '7' ? 'file' : flag === '5' ? 'dir' : flag === '1' || flag === '2' ? 'link' : 'other';
      const m: TarMember = { name, offset: dataOff, size, type };
      if (type === 'link') m.linkname = flag === '2' ? posix.normalize(posix.join(posix.dirname(name), linkname)) : posix.normalize(linkname);
      members.set(name, m);
      longName = undefined; pax = {};
      off = next;
    }
  } finally {
    await fh.close();
  }
  return members;
}

/** The regular file member `name` (following links), or undefined. */
export function resolveMember(members: Map<string, TarMember>, name: string): TarMember | undefined {
  let m = members.get(posix.normalize(name.replace(/^\.\//, '')));
  for (let i = 0; m && m.type === 'link' && i < 16; i++) m = members.get(m.linkname!);
  return m && m.type === 'file' ? m : undefined;
}
