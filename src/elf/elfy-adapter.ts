// The only module that touches elfy 1.0.0. What elfy gets right is the section
// table: names (resolved through e_shstrndx), sh_type, sh_offset and sh_size,
// in both classes. What it gets wrong or cannot do, and so is never used:
//  - it throws on files without section headers (resolveBody asserts a strtab),
//  - ELF64 sh_addralign/sh_entsize are read 2 bytes early (offsets 46/54, not 48/56),
//  - e_type/e_machine come back as display names only (the inspector reads the
//    ELF header and program headers itself, by number).
// Input is checked before elfy sees it, so elfy cannot slice past the end or
// loop on a garbage table; anything it still throws becomes "unavailable".
import elfy from 'elfy';
import { ELFCLASS64 } from './constants.ts';

export interface SectionInfo {
  name: string;
  /** sh_type, numeric. */
  type: number;
  offset: number;
  size: number;
}

export type SectionTable =
  | { available: true; sections: SectionInfo[] }
  | { available: false; reason: string };

const SHT_STRTAB = 3;

/** elfy's display names back to numbers (it maps known sh_type values to strings). */
const SECTION_TYPES: Record<string, number> = {
  null: 0, undef: 0, progbits: 1, symtab: 2, strtab: 3, rela: 4, hash: 5, dynamic: 6, note: 7, nobits: 8,
  rel: 9, shlib: 10, dynsym: 11, init_array: 14, fini_array: 15, preinit_array: 16, group: 17, symtab_shndx: 18,
};

interface HeaderFields { class: number; le: boolean; shoff: number; shentsize: number; shnum: number; shstrndx: number }

/** Read the section table of a whole in-memory ELF file through elfy. */
export function readSectionTable(file: Buffer, h: HeaderFields): SectionTable {
  if (h.shoff === 0 || h.shnum === 0) return { available: false, reason: 'no section headers' };
  const entsize = h.class === ELFCLASS64 ? 64 : 40;
  if (h.shentsize !== entsize) return { available: false, reason: `e_shentsize ${h.shentsize} (expected ${entsize})` };
  if (h.shoff + h.shnum * entsize > file.length) return { available: false, reason: 'section header table runs past the end of the file' };
  if (h.shstrndx >= h.shnum) return { available: false, reason: 'e_shstrndx out of range' };
  const strhdr = h.shoff + h.shstrndx * entsize;
  const strType = h.le ? file.readUInt32LE(strhdr + 4) : file.readUInt32BE(strhdr + 4);
  if (strType !== SHT_STRTAB) return { available: false, reason: 'e_shstrndx does not name a string table' };
  let parsed;
  try {
    parsed = elfy.parse(file);
  } catch (err) {
    return { available: false, reason: `elfy: ${err instanceof Error ? err.message : String(err)}` };
  }
  const sections = parsed.body.sections.map((s) => ({
    name: s.name,
    type: typeof s.type === 'number' ? s.type : (SECTION_TYPES[s.type] ?? -1),
    offset: s.off,
    size: s.size,
  }));
  return { available: true, sections };
}
