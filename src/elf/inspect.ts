// The ELF inspector: what verify and `xbuild inspect-elf` need to know about a
// binary, decided from the ELF header and program headers (so stripped files
// without section headers work), with the section table (through the elfy
// adapter) only for .ARM.attributes. (Just over 300 lines: the per-machine
// float/ABI readings -- ARM, riscv64, ppc64 -- sit with the one decision they feed.)
import { readFile } from 'node:fs/promises';
import { XbuildError, wrapError } from '../errors.ts';
import { bytesOf, type ElfBytes } from './bytes.ts';
import { parseArmAttributes, type ArmAttributes } from './arm-attributes.ts';
import { readSectionTable } from './elfy-adapter.ts';
import {
  DT_NEEDED, DT_NULL, DT_STRSZ, DT_STRTAB, EF_ARM_ABI_FLOAT_HARD, EF_ARM_ABI_FLOAT_SOFT, EF_ARM_EABIMASK,
  EF_PPC64_ABI, EF_RISCV_FLOAT_ABI, EF_RISCV_FLOAT_ABI_DOUBLE, EF_RISCV_FLOAT_ABI_QUAD, EF_RISCV_FLOAT_ABI_SINGLE,
  EF_RISCV_RVC, EF_RISCV_RVE, ELFCLASS32, ELFCLASS64, ELFDATA2LSB, ELFDATA2MSB, EM_ARM, EM_PPC64, EM_RISCV, ET_DYN,
  PT_DYNAMIC, PT_INTERP, PT_LOAD, PT_NOTE, TYPE_NAMES, machineName,
} from './constants.ts';

export type Linkage = 'static' | 'static-pie' | 'dynamic';

export interface ElfNote {
  name: string;
  type: number;
  desc: Buffer;
}

export interface ArmInfo {
  /** EABI version from e_flags (5 on every current toolchain; 0 = old ABI / unknown). */
  eabiVersion: number;
  /** From e_flags (EABI 5 only): hard = EF_ARM_ABI_FLOAT_HARD, soft = EF_ARM_ABI_FLOAT_SOFT. */
  floatAbi: 'hard' | 'soft' | 'unknown';
  /** From .ARM.attributes, when the section table is available. */
  attributes?: ArmAttributes;
}

export interface RiscvInfo {
  /** From e_flags EF_RISCV_FLOAT_ABI: soft (lp64), single (lp64f), double (lp64d: Debian riscv64), quad (lp64q). */
  floatAbi: 'soft' | 'single' | 'double' | 'quad';
  /** EF_RISCV_RVC: uses compressed instructions. */
  rvc: boolean;
  /** EF_RISCV_RVE: the embedded (16-register) base ISA. */
  rve: boolean;
}

export interface Ppc64Info {
  /** e_flags & EF_PPC64_ABI: 1 = ELFv1 (big-endian ppc64 tradition), 2 = ELFv2 (ppc64le), 0 = not said. */
  abiVersion: number;
}

export interface ElfInfo {
  class: 32 | 64;
  endianness: 'little' | 'big';
  osabi: number;
  /** e_type (ET_EXEC 2, ET_DYN 3, ...). */
  type: number;
  /** e_machine, numeric (EM_ARM 40, EM_X86_64 62, EM_AARCH64 183): compare these, not names. */
  machine: number;
  flags: number;
  entry: number;
  interpreter?: string;
  hasDynamic: boolean;
  /** DT_NEEDED names; "?" for an entry whose name could not be read. */
  needed: string[];
  linkage: Linkage;
  arm?: ArmInfo;
  riscv?: RiscvInfo;
  ppc64?: Ppc64Info;
  notes: ElfNote[];
  /** Number of section headers, 0 for stripped-of-sections files. */
  sectionCount: number;
  /** Parts that could not be read (sparse capture, table unavailable); empty for a complete read. */
  incomplete: string[];
}

/** Internal: a structural problem; turned into XbuildError('INVALID_ELF') at the boundary. */
class Malformed extends Error {}

const MAX_PHNUM = 4096;
const MAX_NOTES = 256;
const MAX_DYN = 1 << 16;

class View {
  constructor(private readonly src: ElfBytes, readonly le: boolean, readonly is64: boolean) {}
  get size(): number { return this.src.size; }
  /** Bytes that must exist in the file: truncation is a Malformed error; undefined only if not kept (sparse). */
  bytes(off: number, len: number, what: string): Buffer | undefined {
    if (!Number.isSafeInteger(off) || !Number.isSafeInteger(len) || off < 0 || len < 0 || off + len > this.src.size) {
      throw new Malformed(`${what} at offset ${off} (+${len}) lies outside the ${this.src.size}-byte file`);
    }
    return this.src.read(off, len);
  }
  u16(b: Buffer, o: number): number { return this.le ? b.readUInt16LE(o) : b.readUInt16BE(o); }
  u32(b: Buffer, o: number): number { return this.le ? b.readUInt32LE(o) : b.readUInt32BE(o); }
  word(b: Buffer, o: number): number {
    if (!this.is64) return this.u32(b, o);
    const v = this.le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Malformed(`64-bit field ${v} is out of range`);
    return Number(v);
  }
}

interface Phdr { type: number; offset: number; vaddr: number; filesz: number; memsz: number; align: number }

/**
 * Inspect an ELF file (whole in a Buffer, or sparse bytes from verify's
 * streaming capture). Throws XbuildError('INVALID_ELF') for anything that is
 * not a well-formed ELF file; never throws anything else.
 */
export function inspectElf(input: Buffer | ElfBytes, label = 'file'): ElfInfo {
  const src = Buffer.isBuffer(input) ? bytesOf(input) : input;
  try {
    return inspect(src);
  } catch (err) {
    if (err instanceof Malformed) throw new XbuildError('INVALID_ELF', `${label}: ${err.message}`);
    if (err instanceof RangeError) throw new XbuildError('INVALID_ELF', `${label}: inconsistent ELF headers (${err.message})`);
    throw err;
  }
}

/** Read and inspect a file on disk. */
export async function inspectElfFile(path: string): Promise<ElfInfo> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw wrapError(`reading ${path}`, err);
  }
  return inspectElf(buf, path);
}

/** Like inspectElf, but returns the error instead of throwing it. */
export function tryInspectElf(input: Buffer | ElfBytes, label?: string): { elf: ElfInfo } | { error: XbuildError } {
  try {
    return { elf: inspectElf(input, label) };
  } catch (err) {
    if (err instanceof XbuildError) return { error: err };
    throw err;
  }
}

function inspect(src: ElfBytes): ElfInfo {
  const ident = src.read(0, Math.min(16, src.size));
  if (!ident || ident.length < 16) throw new Malformed(`too short for an ELF header (${src.size} bytes)`);
  if (ident.readUInt32BE(0) !== 0x7f454c46) throw new Malformed('not an ELF file (no \\x7fELF magic)');
  const cls = ident[4];
  const data = ident[5];
  if (cls !== ELFCLASS32 && cls !== ELFCLASS64) throw new Malformed(`invalid EI_CLASS ${cls}`);
  if (data !== ELFDATA2LSB && data !== ELFDATA2MSB) throw new Malformed(`invalid EI_DATA ${data}`);
  const is64 = cls === ELFCLASS64;
  const v = new View(src, data === ELFDATA2LSB, is64);
  const ehsize = is64 ? 64 : 52;
  const eh = v.bytes(0, ehsize, 'ELF header');
  if (!eh) throw new Malformed('ELF header was not captured');
  const type = v.u16(eh, 16);
  const machine = v.u16(eh, 18);
  const entry = v.word(eh, 24);
  const phoff = v.word(eh, is64 ? 32 : 28);
  const shoff = v.word(eh, is64 ? 40 : 32);
  const flags = v.u32(eh, is64 ? 48 : 36);
  const phentsize = v.u16(eh, is64 ? 54 : 42);
  const phnum = v.u16(eh, is64 ? 56 : 44);
  const shentsize = v.u16(eh, is64 ? 58 : 46);
  const shnum = v.u16(eh, is64 ? 60 : 48);
  const shstrndx = v.u16(eh, is64 ? 62 : 50);
  const incomplete: string[] = [];

  // Program headers
  const phdrs: Phdr[] = [];
  if (phnum > 0) {
    const minEnt = is64 ? 56 : 32;
    if (phentsize < minEnt) throw new Malformed(`e_phentsize ${phentsize} is smaller than ${minEnt}`);
    if (phnum > MAX_PHNUM) throw new Malformed(`e_phnum ${phnum} is implausible`);
    const table = v.bytes(phoff, phnum * phentsize, 'program header table');
    if (!table) throw new Malformed('program header table was not captured');
    for (let i = 0; i < phnum; i++) {
      const o = i * phentsize;
      phdrs.push(is64
        ? { type: v.u32(table, o), offset: v.word(table, o + 8), vaddr: v.word(table, o + 16), filesz: v.word(table, o + 32), memsz: v.word(table, o + 40), align: v.word(table, o + 48) }
        : { type: v.u32(table, o), offset: v.u32(table, o + 4), vaddr: v.u32(table, o + 8), filesz: v.u32(table, o + 16), memsz: v.u32(table, o + 20), align: v.u32(table, o + 28) });
    }
  }

  // PT_INTERP
  let interpreter: string | undefined;
  const interp = phdrs.find((p) => p.type === PT_INTERP);
  if (interp) {
    const b = v.bytes(interp.offset, interp.filesz, 'PT_INTERP');
    if (b) {
      const nul = b.indexOf(0);
      interpreter = b.toString('latin1', 0, nul < 0 ? b.length : nul);
    } else {
      interpreter = '?';
      incomplete.push('PT_INTERP');
    }
  }

  // PT_NOTE
  const notes: ElfNote[] = [];
  for (const p of phdrs.filter((x) => x.type === PT_NOTE)) {
    const b = v.bytes(p.offset, p.filesz, 'PT_NOTE');
    if (!b) { incomplete.push(`PT_NOTE at ${p.offset}`); continue; }
    readNotes(v, b, p.align === 8 ? 8 : 4, notes);
  }

  // PT_DYNAMIC -> DT_NEEDED (string table address mapped through PT_LOAD)
  const needed: string[] = [];
  const dyn = phdrs.find((p) => p.type === PT_DYNAMIC);
  if (dyn) {
    const ent = is64 ? 16 : 8;
    const b = v.bytes(dyn.offset, Math.min(dyn.filesz, MAX_DYN * ent), 'PT_DYNAMIC');
    if (!b) incomplete.push('PT_DYNAMIC');
    else {
      const neededOffsets: number[] = [];
      let strtab: number | undefined; let strsz: number | undefined;
      for (let o = 0; o + ent <= b.length; o += ent) {
        const tag = is64 ? Number((v.le ? b.readBigInt64LE(o) : b.readBigInt64BE(o))) : (v.le ? b.readInt32LE(o) : b.readInt32BE(o));
        const val = v.word(b, o + (is64 ? 8 : 4));
        if (tag === DT_NULL) break;
        if (tag === DT_NEEDED) neededOffsets.push(val);
        else if (tag === DT_STRTAB) strtab = val;
        else if (tag === DT_STRSZ) strsz = val;
      }
      const strOff = strtab === undefined ? undefined : vaddrToOffset(phdrs, strtab);
      let strings: Buffer | undefined;
      if (strOff !== undefined && strsz !== undefined && strOff + strsz <= v.size) strings = v.bytes(strOff, strsz, 'DT_STRTAB');
      if (neededOffsets.length > 0 && !strings) incomplete.push('DT_NEEDED names');
      for (const n of neededOffsets) {
        if (!strings || n >= strings.length) { needed.push('?'); continue; }
        const nul = strings.indexOf(0, n);
        needed.push(strings.toString('latin1', n, nul < 0 ? strings.length : nul));
      }
    }
  }

  const hasDynamic = dyn !== undefined;
  const linkage: Linkage = interpreter !== undefined || needed.length > 0 ? 'dynamic'
    : hasDynamic && type === ET_DYN ? 'static-pie' : 'static';

  // Sections (elfy) -> .ARM.attributes
  let arm: ArmInfo | undefined;
  if (machine === EM_ARM) {
    const eabiVersion = (flags & EF_ARM_EABIMASK) >>> 24;
    const floatAbi = eabiVersion !== 5 ? 'unknown'
      : flags & EF_ARM_ABI_FLOAT_HARD ? 'hard' : flags & EF_ARM_ABI_FLOAT_SOFT ? 'soft' : 'unknown';
    arm = { eabiVersion, floatAbi };
    if (shnum > 0 && shoff > 0) {
      if (!src.whole) incomplete.push('section table (file not kept whole)');
      else {
        const table = readSectionTable(src.whole, { class: cls, le: v.le, shoff, shentsize, shnum, shstrndx });
        if (!table.available) incomplete.push(`section table: ${table.reason}`);
        else {
          const s = table.sections.find((x) => x.name === '.ARM.attributes');
          const b = s ? src.read(s.offset, s.size) : undefined;
          if (b) {
            const attrs = parseArmAttributes(b, v.le);
            if (attrs) arm.attributes = attrs;
            else incomplete.push('.ARM.attributes (malformed)');
          }
        }
      }
    }
  }

  const riscv = machine === EM_RISCV ? riscvInfo(flags) : undefined;
  const ppc64 = machine === EM_PPC64 && is64 ? { abiVersion: flags & EF_PPC64_ABI } : undefined;

  return {
    class: is64 ? 64 : 32,
    endianness: v.le ? 'little' : 'big',
    osabi: ident[7] ?? 0,
    type, machine, flags, entry, interpreter, hasDynamic, needed, linkage, arm,
    ...(riscv ? { riscv } : {}), ...(ppc64 ? { ppc64 } : {}),
    notes,
    sectionCount: shoff > 0 ? shnum : 0,
    incomplete,
  };
}

function riscvInfo(flags: number): RiscvInfo {
  const abi = flags & EF_RISCV_FLOAT_ABI;
  const floatAbi = abi === EF_RISCV_FLOAT_ABI_DOUBLE ? 'double' : abi === EF_RISCV_FLOAT_ABI_SINGLE ? 'single'
    : abi === EF_RISCV_FLOAT_ABI_QUAD ? 'quad' : 'soft';
  return { floatAbi, rvc: (flags & EF_RISCV_RVC) !== 0, rve: (flags & EF_RISCV_RVE) !== 0 };
}

function readNotes(v: View, b: Buffer, align: 4 | 8, out: ElfNote[]): void {
  const pad = (n: number) => (n + align - 1) & ~(align - 1);
  let o = 0;
  while (o + 12 <= b.length && out.length < MAX_NOTES) {
    const namesz = v.u32(b, o);
    const descsz = v.u32(b, o + 4);
    const type = v.u32(b, o + 8);
    const nameStart = o + 12;
    // glibc/kernel rule: desc starts at align_up(header + namesz), next note at align_up(desc end)
    const descStart = o + pad(12 + namesz);
    const end = o + pad(descStart - o + descsz);
    if (namesz > b.length || descsz > b.length || descStart + descsz > b.length) throw new Malformed('PT_NOTE entry runs past its segment');
    const rawName = b.subarray(nameStart, nameStart + namesz);
    const nul = rawName.indexOf(0);
    out.push({ name: rawName.toString('latin1', 0, nul < 0 ? rawName.length : nul), type, desc: Buffer.from(b.subarray(descStart, descStart + descsz)) });
    o = Math.min(end, b.length);
  }
}

function vaddrToOffset(phdrs: Phdr[], addr: number): number | undefined {
  for (const p of phdrs) {
    if (p.type === PT_LOAD && addr >= p.vaddr && addr < p.vaddr + p.filesz) return addr - p.vaddr + p.offset;
  }
  return undefined;
}

/** Display helpers (names are for humans; checks compare numbers). */
export const elfTypeName = (t: number): string => TYPE_NAMES[t] ?? `type-${t}`;
export { machineName };

/** The note with this owner name and type, if present. */
export function findNote(elf: ElfInfo, name: string, type: number): ElfNote | undefined {
  return elf.notes.find((n) => n.name === name && n.type === type);
}

/** A note description as text: latin1, the trailing NULs of its padding dropped. */
export function noteDescText(desc: Buffer): string {
  return desc.toString('latin1').replace(/\0+$/, '');
}

/** A note's description as text (noteDescText), or undefined when the note is absent. */
export function noteText(elf: ElfInfo, name: string, type: number): string | undefined {
  const n = findNote(elf, name, type);
  return n ? noteDescText(n.desc) : undefined;
}
