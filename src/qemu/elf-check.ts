// Checks of a built emulator, through xbuild's ELF inspector: static (no
// PT_INTERP, no DT_NEEDED), for the host (x86_64) and carrying the xbuild note.
import { XbuildError, wrapError } from '../errors.ts';
import { inspectElfFile, noteText } from '../elf/inspect.ts';
import { NT_XBUILD_EXECVE, XBUILD_NOTE_NAME, emulatorNoteText } from '../contract/in-image.ts';
import { EM_X86_64 } from '../elf/constants.ts';


export interface EmulatorFacts {
  machine: number;
  interp: boolean;
  needed: number;
  linkage: string;
  /** desc of the xbuild NT_XBUILD_EXECVE note, trailing NULs removed. */
  marker?: string;
}

export async function readEmulatorFacts(path: string): Promise<EmulatorFacts> {
  const elf = await inspectElfFile(path).catch((err) => { throw wrapError(`inspecting ${path}`, err); });
  return {
    machine: elf.machine,
    interp: elf.interpreter !== undefined,
    needed: elf.needed.length,
    linkage: elf.linkage,
    marker: noteText(elf, XBUILD_NOTE_NAME, NT_XBUILD_EXECVE),
  };
}

/** Throws QEMU_BUILD naming the first property a built emulator lacks. */
export async function checkEmulator(path: string, want: { seriesVersion: number; qemuVersion: string }): Promise<EmulatorFacts> {
  const f = await readEmulatorFacts(path);
  const expected = emulatorNoteText({ series: want.seriesVersion, qemu: want.qemuVersion });
  if (f.machine !== EM_X86_64) throw new XbuildError('QEMU_BUILD', `${path}: e_machine ${f.machine}, expected ${EM_X86_64} (x86_64)`);
  if (f.interp || f.needed > 0) throw new XbuildError('QEMU_BUILD', `${path} is dynamically linked (PT_INTERP or DT_NEEDED present)`);
  if (f.marker !== expected) throw new XbuildError('QEMU_BUILD', `${path}: xbuild note is ${f.marker === undefined ? 'missing' : `"${f.marker}"`}, expected "${expected}"`);
  return f;
}
