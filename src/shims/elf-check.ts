// Checks a built shim before it is cached or put into a layer, with the ELF
// inspector (src/elf): an x86_64 ELF64 executable, statically linked (no
// PT_INTERP, no DT_NEEDED), carrying the xbuild shim note in a PT_NOTE segment.
import { XbuildError } from '../errors.ts';
import { inspectElf, noteText, type ElfInfo } from '../elf/inspect.ts';
import { describeHostBinaryProblem, hostBinaryProblems } from '../contract/host-binary.ts';
import { NT_XBUILD_SHIM, XBUILD_NOTE_NAME, parseShimNote } from '../contract/in-image.ts';

/** The shim version from its note (desc "shim version=<N>"), or undefined when the note is absent. */
export function shimNoteVersion(elf: ElfInfo): number | undefined {
  const text = noteText(elf, XBUILD_NOTE_NAME, NT_XBUILD_SHIM);
  return text === undefined ? undefined : parseShimNote(text);
}

/** Throws unless `buf` is a static x86_64 executable with the xbuild shim note; returns its ELF facts. */
export function checkShimBinary(buf: Buffer, label: string): ElfInfo {
  let elf: ElfInfo;
  try {
    elf = inspectElf(buf, label);
  } catch (err) {
    throw new XbuildError('INVALID_IMAGE', `${(err as Error).message}: not the xbuild shim`, { cause: err });
  }
  const problems = hostBinaryProblems(elf, 'shim').map((p) => describeHostBinaryProblem(p, elf, 'shim'));
  if (elf.type !== 2 && elf.type !== 3) problems.push(`e_type ${elf.type} is not an executable`);
  if (shimNoteVersion(elf) === undefined && problems.every((p) => !p.startsWith('no '))) problems.push(`its "${XBUILD_NOTE_NAME}" note of type ${NT_XBUILD_SHIM} is not "shim version=<N>"`);
  if (problems.length) throw new XbuildError('INVALID_IMAGE', `${label} is not a valid xbuild shim: ${problems.join('; ')}`);
  return elf;
}
