// Header checks of a built emulator: static, for the host (x86_64), marked.
// Temporary: replaced by src/elf's inspectElf once that is merged.
import { readFile } from 'node:fs/promises';
import { XbuildError } from '../errors.ts';
import { NT_XBUILD_EXECVE, XBUILD_NOTE_NAME } from '../shims/contract.ts';

export const EM_X86_64 = 62;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const PT_NOTE = 4;
const DT_NEEDED = 1;

export interface EmulatorFacts {
  machine: number;
  interp: boolean;
  needed: number;
  /** desc of the xbuild NT_XBUILD_EXECVE note, trailing NULs removed. */
  marker?: string;
}

/** Reads an ELF64 little-endian file's program headers (enough for stripped static binaries). */
export async function readEmulatorFacts(path: string): Promise<EmulatorFacts> {
  const b = await readFile(path);
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46) throw new XbuildError('QEMU_BUILD', `${path} is not an ELF file`);
  if (b[4] !== 2 || b[5] !== 1) throw new XbuildError('QEMU_BUILD', `${path} is not a 64-bit little-endian ELF file`);
  const machine = b.readUInt16LE(18);
  const phoff = Number(b.readBigUInt64LE(32));
  const phentsize = b.readUInt16LE(54);
  const phnum = b.readUInt16LE(56);
  const facts: EmulatorFacts = { machine, interp: false, needed: 0 };
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    if (o + 56 > b.length) break;
    const type = b.readUInt32LE(o);
    const off = Number(b.readBigUInt64LE(o + 8));
    const size = Number(b.readBigUInt64LE(o + 32));
    if (type === PT_INTERP) facts.interp = true;
    if (type === PT_DYNAMIC) {
      for (let d = off; d + 16 <= Math.min(off + size, b.length); d += 16) {
        const tag = b.readBigInt64LE(d);
        if (tag === 0n) break;
        if (tag === BigInt(DT_NEEDED)) facts.needed++;
      }
    }
    if (type === PT_NOTE) {
      for (let n = off; n + 12 <= Math.min(off + size, b.length);) {
        const namesz = b.readUInt32LE(n); const descsz = b.readUInt32LE(n + 4); const ntype = b.readUInt32LE(n + 8);
        const name = b.subarray(n + 12, n + 12 + namesz).toString('latin1').replace(/\0+$/, '');
        const descOff = n + 12 + align4(namesz);
        if (name === XBUILD_NOTE_NAME && ntype === NT_XBUILD_EXECVE) {
          facts.marker = b.subarray(descOff, descOff + descsz).toString('latin1').replace(/\0+$/, '');
        }
        n = descOff + align4(descsz);
      }
    }
  }
  return facts;
}

const align4 = (n: number): number => (n + 3) & ~3;

/** Throws QEMU_BUILD naming the first property a built emulator lacks. */
export async function checkEmulator(path: string, want: { seriesVersion: number; qemuVersion: string }): Promise<EmulatorFacts> {
  const f = await readEmulatorFacts(path);
  const expected = `execve-intercept series=${want.seriesVersion} qemu=${want.qemuVersion}`;
  if (f.machine !== EM_X86_64) throw new XbuildError('QEMU_BUILD', `${path}: e_machine ${f.machine}, expected ${EM_X86_64} (x86_64)`);
  if (f.interp || f.needed > 0) throw new XbuildError('QEMU_BUILD', `${path} is dynamically linked (PT_INTERP or DT_NEEDED present)`);
  if (f.marker !== expected) throw new XbuildError('QEMU_BUILD', `${path}: xbuild note is ${f.marker === undefined ? 'missing' : `"${f.marker}"`}, expected "${expected}"`);
  return f;
}
