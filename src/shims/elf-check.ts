// Checks a built shim before it is cached or put into a layer: an x86_64
// ELF executable with no PT_INTERP and no PT_DYNAMIC (static, so it runs in
// any image), carrying the xbuild shim note in a PT_NOTE segment.
// Decided from program headers, not sections (STYLE.md, ELF inspection).
import { XbuildError } from '../errors.ts';
import { NT_XBUILD_SHIM, XBUILD_NOTE_NAME } from './contract.ts';

const EM_X86_64 = 62;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const PT_NOTE = 4;

export interface ElfNote { name: string; type: number; desc: Buffer }

export interface ShimElfFacts {
  machine: number;
  type: number;
  hasInterp: boolean;
  hasDynamic: boolean;
  notes: ElfNote[];
}

/** Reads the header, program headers and PT_NOTE notes of a little-endian ELF64 file. */
export function readElf64Facts(buf: Buffer): ShimElfFacts {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  if (buf[4] !== 2 || buf[5] !== 1) throw new Error('not a little-endian ELF64 file');
  const type = buf.readUInt16LE(16);
  const machine = buf.readUInt16LE(18);
  const phoff = Number(buf.readBigUInt64LE(32));
  const phentsize = buf.readUInt16LE(54);
  const phnum = buf.readUInt16LE(56);
  let hasInterp = false;
  let hasDynamic = false;
  const notes: ElfNote[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 56 > buf.length) throw new Error('program headers run past the end of the file');
    const ptype = buf.readUInt32LE(at);
    if (ptype === PT_INTERP) hasInterp = true;
    if (ptype === PT_DYNAMIC) hasDynamic = true;
    if (ptype !== PT_NOTE) continue;
    const off = Number(buf.readBigUInt64LE(at + 8));
    const size = Number(buf.readBigUInt64LE(at + 32));
    if (off + size > buf.length) throw new Error('PT_NOTE runs past the end of the file');
    for (let p = off; p + 12 <= off + size;) {
      const namesz = buf.readUInt32LE(p);
      const descsz = buf.readUInt32LE(p + 4);
      const ntype = buf.readUInt32LE(p + 8);
      const nameAt = p + 12;
      const descAt = nameAt + ((namesz + 3) & ~3);
      const next = descAt + ((descsz + 3) & ~3);
      if (next > off + size) break;
      const name = buf.subarray(nameAt, nameAt + namesz).toString('latin1').replace(/\0+$/, '');
      notes.push({ name, type: ntype, desc: buf.subarray(descAt, descAt + descsz) });
      p = next;
    }
  }
  return { machine, type, hasInterp, hasDynamic, notes };
}

/** The shim version from its note ("shim version=<N>"), or undefined when the note is absent. */
export function shimNoteVersion(facts: ShimElfFacts): number | undefined {
  const n = facts.notes.find((x) => x.name === XBUILD_NOTE_NAME && x.type === NT_XBUILD_SHIM);
  const m = n && /^shim version=(\d+)$/.exec(n.desc.toString('latin1').replace(/\0+$/, ''));
  return m ? Number(m[1]) : undefined;
}

/** Throws unless `buf` is a static x86_64 executable with the xbuild shim note. */
export function checkShimBinary(buf: Buffer, label: string): ShimElfFacts {
  let facts: ShimElfFacts;
  try {
    facts = readElf64Facts(buf);
  } catch (err) {
    throw new XbuildError('INVALID_IMAGE', `${label}: ${(err as Error).message}, not the xbuild shim`);
  }
  const problems: string[] = [];
  if (facts.machine !== EM_X86_64) problems.push(`e_machine ${facts.machine}, not x86_64 (${EM_X86_64})`);
  if (facts.type !== 2 && facts.type !== 3) problems.push(`e_type ${facts.type} is not an executable`);
  if (facts.hasInterp || facts.hasDynamic) problems.push('dynamically linked (PT_INTERP/PT_DYNAMIC)');
  if (shimNoteVersion(facts) === undefined) problems.push(`no "${XBUILD_NOTE_NAME}" note of type ${NT_XBUILD_SHIM}`);
  if (problems.length) throw new XbuildError('INVALID_IMAGE', `${label} is not a valid xbuild shim: ${problems.join('; ')}`);
  return facts;
}
