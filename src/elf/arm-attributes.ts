// .ARM.attributes (ARM IHI 0045 "Addenda to the ARM ELF ABI", build attributes):
//   'A' <subsection>*;  subsection = u32 length, vendor NUL-terminated, then
//   (for "aeabi") <tag uleb128, u32 size, attributes>*; Tag_File (1) applies to
//   the whole file. Attributes are uleb128 tag + uleb128 or NUL-terminated string.
import { CPU_ARCH_NAMES, Tag_ABI_VFP_args, Tag_compatibility, Tag_CPU_arch, Tag_CPU_arch_profile, Tag_CPU_name, Tag_CPU_raw_name, Tag_File } from './constants.ts';

export interface ArmAttributes {
  /** Tag_CPU_arch raw value. */
  cpuArch?: number;
  /** "v7", "v6", "v5TE", ... */
  cpuArchName?: string;
  /** Tag_CPU_arch_profile: 'A', 'R', 'M', 'S'. */
  cpuProfile?: string;
  cpuName?: string;
  /** Tag_ABI_VFP_args: 1 = arguments in VFP registers (hard float). */
  vfpArgs?: number;
}

/** Parse the section's bytes; returns undefined when they are not a valid attributes section. */
export function parseArmAttributes(data: Buffer, le: boolean): ArmAttributes | undefined {
  if (data.length < 1 || data[0] !== 0x41) return undefined;
  const u32 = (o: number) => (le ? data.readUInt32LE(o) : data.readUInt32BE(o));
  const out: ArmAttributes = {};
  let p = 1;
  while (p + 4 <= data.length) {
    const len = u32(p);
    if (len < 5 || p + len > data.length) return undefined;
    const end = p + len;
    let q = p + 4;
    const nul = data.indexOf(0, q);
    if (nul < 0 || nul >= end) return undefined;
    const vendor = data.toString('latin1', q, nul);
    q = nul + 1;
    if (vendor === 'aeabi') {
      while (q + 5 <= end) {
        const [tag, afterTag] = uleb(data, q, end);
        if (afterTag < 0 || afterTag + 4 > end) return undefined;
        const size = u32(afterTag);
        const subEnd = q + size;
        if (size < 5 || subEnd > end) return undefined;
        if (tag === Tag_File && !readFileAttributes(data, afterTag + 4, subEnd, out)) return undefined;
        q = subEnd;
      }
    }
    p = end;
  }
  return out;
}

function readFileAttributes(data: Buffer, start: number, end: number, out: ArmAttributes): boolean {
  let q = start;
  while (q < end) {
    const [tag, a] = uleb(data, q, end);
    if (a < 0) return false;
    q = a;
    const isString = tag === Tag_CPU_raw_name || tag === Tag_CPU_name || tag === 67 /* Tag_conformance */
      || (tag > Tag_compatibility && tag % 2 === 1);
    if (tag === Tag_compatibility) {
      const [, b] = uleb(data, q, end);
      if (b < 0) return false;
      const nul = data.indexOf(0, b);
      if (nul < 0 || nul >= end) return false;
      q = nul + 1;
    } else if (isString) {
      const nul = data.indexOf(0, q);
      if (nul < 0 || nul >= end) return false;
      if (tag === Tag_CPU_name) out.cpuName = data.toString('latin1', q, nul);
      q = nul + 1;
    } else {
      const [v, b] = uleb(data, q, end);
      if (b < 0) return false;
      q = b;
      if (tag === Tag_CPU_arch) { out.cpuArch = v; out.cpuArchName = CPU_ARCH_NAMES[v] ?? `arch-${v}`; }
      if (tag === Tag_CPU_arch_profile && v !== 0) out.cpuProfile = String.fromCharCode(v);
      if (tag === Tag_ABI_VFP_args) out.vfpArgs = v;
    }
  }
  return true;
}

/** Returns [value, next offset] or [0, -1] when the number runs past `end` or is absurdly long. */
function uleb(data: Buffer, start: number, end: number): [number, number] {
  let v = 0; let shift = 0; let p = start;
  while (p < end && shift < 35) {
    const b = data[p++]!;
    v += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [v, p];
    shift += 7;
  }
  return [0, -1];
}
