// The check every xbuild binary in an image must pass -- the emulator and the
// shim -- decided once, from the ELF inspector's facts: x86_64 ELF64 (the host
// kernel runs it without binfmt_misc), static (no PT_INTERP, no DT_NEEDED:
// static or static-pie), and carrying the xbuild note of its role (the
// execve-intercepting emulator, note type 1; the shim, type 2). It is what
// cross-build-start checks before it swaps a shell (shims/xbuild-shim.c); wrap
// applies it to --qemu-dir and cached emulators, the build to its outputs,
// verify to images.
import { EM_X86_64 } from '../elf/constants.ts';
import { findNote, type ElfInfo } from '../elf/inspect.ts';
import { NT_XBUILD_EXECVE, NT_XBUILD_SHIM, XBUILD_NOTE_NAME } from './in-image.ts';

export type HostBinaryRole = 'emulator' | 'shim';
export type HostBinaryProblem = 'not-host-native' | 'dynamic' | 'no-xbuild-note';

export const NOTE_TYPE_OF: Record<HostBinaryRole, number> = { emulator: NT_XBUILD_EXECVE, shim: NT_XBUILD_SHIM };

/** What keeps `elf` from being xbuild's `role` binary; [] when it qualifies. */
export function hostBinaryProblems(elf: ElfInfo, role: HostBinaryRole): HostBinaryProblem[] {
  const out: HostBinaryProblem[] = [];
  // the host kernel runs it only as ELF64, little-endian, x86-64, an executable or PIE (ET_EXEC 2 / ET_DYN 3)
  if (elf.machine !== EM_X86_64 || elf.class !== 64 || elf.endianness !== 'little' || (elf.type !== 2 && elf.type !== 3)) out.push('not-host-native');
  if (elf.linkage === 'dynamic') out.push('dynamic');
  if (!findNote(elf, XBUILD_NOTE_NAME, NOTE_TYPE_OF[role])) out.push('no-xbuild-note');
  return out;
}

/** One sentence per problem, for errors (verify words its findings itself). */
export function describeHostBinaryProblem(p: HostBinaryProblem, elf: ElfInfo, role: HostBinaryRole): string {
  switch (p) {
    case 'not-host-native': return `e_machine ${elf.machine} (ELF${elf.class}, ${elf.endianness}-endian, e_type ${elf.type}), not an x86_64 (${EM_X86_64}) ELF64 little-endian ET_EXEC/ET_DYN`;
    case 'dynamic': return 'dynamically linked (PT_INTERP or DT_NEEDED)';
    case 'no-xbuild-note': return role === 'emulator'
      ? `no "${XBUILD_NOTE_NAME}" ELF note of type ${NT_XBUILD_EXECVE}: not xbuild's execve-intercepting emulator (stock QEMU cannot start child programs without binfmt_misc)`
      : `no "${XBUILD_NOTE_NAME}" note of type ${NT_XBUILD_SHIM}`;
  }
}
