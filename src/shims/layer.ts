// The complete set of files xbuild adds to an image for one architecture: the
// emulator, cross-build-start/-end, and whatever the shims need. wrap builds
// its one layer from exactly this list.
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { LayerEntry } from '../layer/entry.ts';
import type { QemuArch } from '../oci/platform.ts';
import { XbuildError, wrapError } from '../errors.ts';
import {
  CROSS_BUILD_END, CROSS_BUILD_START, NT_XBUILD_EXECVE, SERIES_THE_SHIM_NEEDS, SHIM_VERSION, STATE_FILE, XBUILD_NOTE_NAME, emulatorInImage, leversTheEmulatorLacks, parseEmulatorNote,
} from '../contract/in-image.ts';
import { checkShimBinary } from './elf-check.ts';
import { inspectElfFile, noteText, type ElfInfo } from '../elf/inspect.ts';
import { describeHostBinaryProblem, hostBinaryProblems } from '../contract/host-binary.ts';

export interface XbuildLayerInputs {
  arch: QemuArch;
  /** Host path of the patched static emulator (qemu-<arch>-static). */
  emulatorPath: string;
  /** Host path of the built host-native shim binary. */
  shimPath: string;
  /** Sibling emulators (wrap --extra-emulators): target -> host path of its qemu-<target>-static. */
  extraEmulators?: Partial<Record<QemuArch, string>>;
}

/** Directories the layer carries: the parents of every file, and the (empty) state directory. */
function layerDirs(): string[] {
  const dirs = new Set<string>();
  for (const p of [CROSS_BUILD_START, CROSS_BUILD_END, STATE_FILE]) {
    for (let d = dirname(p); d !== '.' && d !== ''; d = dirname(d)) dirs.add(d);
  }
  return [...dirs];
}

/**
 * The emulator must be xbuild's: the check of src/contract/host-binary.ts, the
 * one cross-build-start applies inside the image. Returns its size.
 */
async function checkEmulator(path: string, arch: QemuArch): Promise<number> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    throw new XbuildError('NO_EMULATOR', `the ${arch} emulator ${path} does not exist`, {
      hint: 'build it with `xbuild qemu build` or pass --qemu-dir', cause: err,
    });
  }
  if (!st.isFile()) throw new XbuildError('NO_EMULATOR', `the ${arch} emulator ${path} is not a regular file`);
  let elf: ElfInfo;
  try {
    elf = await inspectElfFile(path);
  } catch (err) {
    throw new XbuildError('NO_EMULATOR', `the ${arch} emulator ${path} is not an x86_64 ELF program (${(err as Error).message})`, { cause: err });
  }
  const problems = hostBinaryProblems(elf, 'emulator');
  if (problems.length > 0) {
    throw new XbuildError('NO_EMULATOR', `the ${arch} emulator ${path} is not xbuild's: ${problems.map((p) => describeHostBinaryProblem(p, elf, 'emulator')).join('; ')}`, {
      hint: 'wrap needs the patched static qemu-user that `xbuild qemu build` makes (Debian/Ubuntu qemu-user-static will not do): run it, or pass --qemu-dir with its output',
    });
  }
  // An emulator of an older series rejects the options cross-build-start passes: refuse it here, not at the first RUN line.
  const series = parseEmulatorNote(noteText(elf, XBUILD_NOTE_NAME, NT_XBUILD_EXECVE) ?? '')?.series;
  const lacks = series === undefined ? [] : leversTheEmulatorLacks(SHIM_VERSION, series);
  if (lacks.length > 0) {
    throw new XbuildError('NO_EMULATOR', `the ${arch} emulator ${path} was built from patch series ${series}; cross-build-start passes ${lacks.join(', ')}, which only series ${SERIES_THE_SHIM_NEEDS} and later accept`, {
      hint: 'rebuild it with `xbuild qemu build` (or pass --qemu-dir with a build of the current series)',
    });
  }
  return st.size;
}

/**
 * The full file set of the xbuild layer, sorted by path, deterministic: the
 * same inputs give the same entries (modes fixed; the layer builder fixes
 * owners and times).
 */
export async function xbuildLayerEntries(inputs: XbuildLayerInputs): Promise<LayerEntry[]> {
  const { arch, emulatorPath, shimPath } = inputs;
  let shim: Buffer;
  try {
    shim = await readFile(shimPath);
  } catch (err) {
    throw wrapError(`reading the xbuild shim ${shimPath}`, err);
  }
  checkShimBinary(shim, shimPath);
  const emulatorSize = await checkEmulator(emulatorPath, arch);
  const entries: LayerEntry[] = [
    ...layerDirs().map((path): LayerEntry => ({ path, type: 'dir', mode: 0o755 })),
    { path: CROSS_BUILD_START, type: 'file', mode: 0o755, content: shim, size: shim.length },
    { path: CROSS_BUILD_END, type: 'file', mode: 0o755, content: shim, size: shim.length },
    {
      path: emulatorInImage(arch), type: 'file', mode: 0o755, size: emulatorSize,
      content: async () => createReadStream(emulatorPath),
    },
  ];
  for (const [extra, path] of Object.entries(inputs.extraEmulators ?? {}) as [QemuArch, string][]) {
    if (extra === arch) continue;
    const size = await checkEmulator(path, extra);
    entries.push({ path: emulatorInImage(extra), type: 'file', mode: 0o755, size, content: async () => createReadStream(path) });
  }
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
