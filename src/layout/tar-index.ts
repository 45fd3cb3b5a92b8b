// Random access into an uncompressed tar file: one pass over the 512-byte
// headers (contents are skipped with seeks, never read), then each member is
// opened as a byte range of the file. Handles ustar prefix, pax `path` and
// GNU long names, and symlinks/hardlinks between members (docker save uses them).
// Headers are parsed by the layer tar reader (Go archive/tar rules, PAX and
// long names capped at 1 MiB before anything is allocated for them).
import { open } from 'node:fs/promises';
import { posix } from 'node:path';
import { XbuildError } from '../errors.ts';
import { BLOCK, MAX_SPECIAL_FILE, TYPE, parseHeaderBlock, parsePaxRecords } from '../layer/tar-header.ts';

export interface TarMember { name: string; offset: number; size: number; type: 'file' | 'dir' | 'link' | 'other'; linkname?: string }

export async function indexTar(file: string): Promise<Map<string, TarMember>> {
  const fh = await open(file, 'r').catch((e: NodeJS.ErrnoException) => {
    throw new XbuildError(e.code === 'ENOENT' ? 'NOT_FOUND' : 'IO', `cannot open ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  });
  const members = new Map<string, TarMember>();
  try {
    const { size: fileSize } = await fh.stat();
    const h = Buffer.alloc(BLOCK);
    let off = 0; let longName = ''; let pax = new Map<string, string>();
    for (;;) {
      if (off + BLOCK > fileSize) {
        if (off === fileSize) break; // Go: EOF at a header boundary ends the archive
        throw new XbuildError('INVALID_IMAGE', `${file}: truncated tar archive`);
      }
      await fh.read(h, 0, BLOCK, off);
      if (h.every((x) => x === 0)) break;
      const hdr = parseHeaderBlock(h, file);
      const flag = hdr.typeflag;
      const dataOff = off + BLOCK;
      const special = flag === TYPE.GNU_LONGNAME || flag === TYPE.XHEADER || flag === TYPE.XGLOBAL || flag === TYPE.GNU_LONGLINK;
      const headerOnly = ([TYPE.LINK, TYPE.SYMLINK, TYPE.CHAR, TYPE.BLOCK, TYPE.DIR, TYPE.FIFO] as number[]).includes(flag);
      if (special) {
        if (hdr.size > MAX_SPECIAL_FILE) throw new XbuildError('INVALID_IMAGE', `${file}: a PAX or GNU long-name header of ${hdr.size} bytes (the limit is ${MAX_SPECIAL_FILE})`);
        if (dataOff + hdr.size > fileSize) throw new XbuildError('INVALID_IMAGE', `${file}: truncated tar archive`);
        const data = Buffer.alloc(hdr.size);
        await fh.read(data, 0, hdr.size, dataOff);
        if (flag === TYPE.GNU_LONGNAME) { const z = data.indexOf(0); longName = data.toString('latin1', 0, z < 0 ? data.length : z); }
        if (flag === TYPE.XHEADER) pax = parsePaxRecords(data, file);
        off = dataOff + Math.ceil(hdr.size / BLOCK) * BLOCK;
        continue;
      }
      let name = hdr.name;
      if (pax.get('path')) name = pax.get('path')!;
      if (longName) name = longName;
      let size = hdr.size;
      const paxSize = pax.get('size');
      if (paxSize) size = Number(paxSize);
      const dataSize = headerOnly ? 0 : size;
      if (!Number.isSafeInteger(dataSize) || dataSize < 0 || dataOff + dataSize > fileSize) {
        throw new XbuildError('INVALID_IMAGE', `${file}: tar header at offset ${off} claims ${dataSize} bytes, past the end of the ${fileSize}-byte file`);
      }
      const next = dataOff + Math.ceil(dataSize / BLOCK) * BLOCK;
      const linkname = pax.get('linkpath') || hdr.linkname;
      name = Buffer.from(name, 'latin1').toString('utf8');
      name = posix.normalize(name.replace(/^\.\//, '')).replace(/\/$/, '');
      const type = flag === TYPE.REG || flag === TYPE.REGA ? 'file' : flag === TYPE.DIR ? 'dir' : flag === TYPE.LINK || flag === TYPE.SYMLINK ? 'link' : 'other';
      const m: TarMember = { name, offset: dataOff, size, type };
      const ln = Buffer.from(linkname, 'latin1').toString('utf8');
      if (type === 'link') m.linkname = flag === TYPE.SYMLINK ? posix.normalize(posix.join(posix.dirname(name), ln)) : posix.normalize(ln);
      members.set(name, m);
      longName = ''; pax = new Map();
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
