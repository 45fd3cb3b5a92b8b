// Plain-data and one-line views of ElfInfo for --json and human output.
// Names are for display; consumers of the JSON compare the numeric fields.
import { elfTypeName, machineName, noteDescText, type ElfInfo, type ElfNote } from './inspect.ts';

export interface ElfNoteJson { name: string; type: number; descHex: string; descText?: string }

export interface ElfInfoJson {
  class: 32 | 64;
  endianness: 'little' | 'big';
  osabi: number;
  type: number;
  typeName: string;
  machine: number;
  machineName: string;
  flags: number;
  interpreter: string | null;
  needed: string[];
  hasDynamic: boolean;
  linkage: ElfInfo['linkage'];
  arm: null | {
    eabiVersion: number;
    floatAbi: 'hard' | 'soft' | 'unknown';
    cpuArch: number | null;
    cpuArchName: string | null;
    cpuProfile: string | null;
  };
  riscv: null | { floatAbi: 'soft' | 'single' | 'double' | 'quad'; rvc: boolean; rve: boolean };
  ppc64: null | { abiVersion: number };
  notes: ElfNoteJson[];
  sectionCount: number;
  incomplete: string[];
}

export function noteToJson(n: ElfNote): ElfNoteJson {
  const printable = n.desc.length > 0 && /^[\x20-\x7e]*\0*$/.test(n.desc.toString('latin1'));
  return { name: n.name, type: n.type, descHex: n.desc.toString('hex'), ...(printable ? { descText: noteDescText(n.desc) } : {}) };
}

export function elfToJson(e: ElfInfo): ElfInfoJson {
  return {
    class: e.class,
    endianness: e.endianness,
    osabi: e.osabi,
    type: e.type,
    typeName: elfTypeName(e.type),
    machine: e.machine,
    machineName: machineName(e.machine),
    flags: e.flags,
    interpreter: e.interpreter ?? null,
    needed: e.needed,
    hasDynamic: e.hasDynamic,
    linkage: e.linkage,
    arm: e.arm ? {
      eabiVersion: e.arm.eabiVersion,
      floatAbi: e.arm.floatAbi,
      cpuArch: e.arm.attributes?.cpuArch ?? null,
      cpuArchName: e.arm.attributes?.cpuArchName ?? null,
      cpuProfile: e.arm.attributes?.cpuProfile ?? null,
    } : null,
    riscv: e.riscv ? { ...e.riscv } : null,
    ppc64: e.ppc64 ? { ...e.ppc64 } : null,
    notes: e.notes.map(noteToJson),
    sectionCount: e.sectionCount,
    incomplete: e.incomplete,
  };
}

/** "ELF64 little DYN x86_64(62) static-pie" plus ARM ABI when present. */
export function summarizeElf(e: ElfInfo): string {
  const parts = [`ELF${e.class}`, e.endianness === 'little' ? 'LE' : 'BE', elfTypeName(e.type), `${machineName(e.machine)}(${e.machine})`, e.linkage];
  if (e.arm) {
    parts.push(`EABI${e.arm.eabiVersion}`, `${e.arm.floatAbi}-float`);
    if (e.arm.attributes?.cpuArchName) parts.push(`arch ${e.arm.attributes.cpuArchName}`);
  }
  if (e.riscv) parts.push(`${e.riscv.floatAbi}-float${e.riscv.rvc ? ' RVC' : ''}${e.riscv.rve ? ' RVE' : ''}`);
  if (e.ppc64) parts.push(e.ppc64.abiVersion === 0 ? 'ABI unspecified' : `ELFv${e.ppc64.abiVersion}`);
  return parts.join(' ');
}
