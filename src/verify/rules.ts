// The checks: pure functions of the filesystem view and the image config.
import { EM_ARM, machineName } from '../elf/constants.ts';
import { noteText } from '../elf/inspect.ts';
import type { FsView } from '../layer/fs-view.ts';
import type { ImageConfig } from '../oci/model.ts';
import { EMULATED_PLATFORMS, qemuArchFor } from '../oci/platform.ts';
import {
  CROSS_BUILD_END, CROSS_BUILD_START, NT_XBUILD_EXECVE, NT_XBUILD_SHIM, ORIGINAL_SUFFIX, STATE_FILE, XBUILD_NOTE_NAME, emulatorInImage,
  DPKG_HOOK, emulatorFileName, leversTheEmulatorLacks, parseEmulatorNote, parseShimNote, qemuArchOfElf,
} from '../contract/in-image.ts';
import { hostBinaryProblems, NOTE_TYPE_OF, type HostBinaryRole } from '../contract/host-binary.ts';
import type { ContentInfo } from './collect.ts';
import { EMULATOR_PATH } from '../contract/owned.ts';
import { expectedElfFor, type ExpectedElf } from './expect.ts';
import { finding, type Finding, type FindingId } from './findings.ts';
import { checkShells, shellPathsToRead } from './shells.ts';

export interface RuleOptions {
  /** sha256 digests ("sha256:<hex>") of the locally built shims; when given, the image's shims must match one. */
  shimDigests?: string[];
  /** How many ELF files of bin/ and usr/bin/ to compare with the config (besides /bin/sh). */
  sampleSize?: number;
  /** `verify --final`: the image is meant to ship, so no emulator or shims are expected (final.ts forbids them). */
  final?: boolean;
}

export interface Checked {
  emulator?: string;
  /** Sibling emulators beside the image's own (wrap --extra-emulators), checked like it. */
  extraEmulators: string[];
  /** Description of the emulator's xbuild note ("execve-intercept series=1 qemu=10.0.13"), when present. */
  emulatorNote?: string;
  shims: string[];
  /** Description of each shim's xbuild note ("shim version=1"), by path. */
  shimNotes: Record<string, string>;
  shells: string[];
  sampled: string[];
}

const fix = {
  wrap: 'wrap the base image with `xbuild wrap <image>`, which adds the emulator and shims',
  emulator: 'rebuild with `xbuild qemu build` and re-wrap: xbuild needs its patched, static, x86_64 qemu-user',
  shim: 'rebuild with `xbuild wrap`: the shims must be the host-native static ones xbuild generates',
  end: 'add RUN ["cross-build-end"] after the last emulated RUN line of the Dockerfile',
};

/** Every path the rules read content from (resolved and, when needed, read again by collect.readResolved). */
export function pathsToRead(view: FsView<ContentInfo>, config: ImageConfig): string[] {
  const qarch = qemuArchFor(config.architecture, config.variant);
  const extra = [...view.paths()].filter((p) => EMULATOR_PATH.test(p) && (!qarch || p !== emulatorInImage(qarch))).sort();
  return [...(qarch ? [emulatorInImage(qarch)] : []), ...extra, CROSS_BUILD_START, CROSS_BUILD_END, STATE_FILE, ...shellPathsToRead(view)];
}

export function checkView(view: FsView<ContentInfo>, config: ImageConfig, opts: RuleOptions = {}): { findings: Finding[]; checked: Checked } {
  const out: Finding[] = [];
  const checked: Checked = { extraEmulators: [], shims: [], shimNotes: {}, shells: [], sampled: [] };
  const platform = `${config.os}/${config.architecture}${config.variant ? `/${config.variant}` : ''}`;
  const expected = expectedElfFor(config.architecture, config.variant);
  const qarch = qemuArchFor(config.architecture, config.variant);

  // 1. emulator
  if (opts.final) {
    // a shipped image carries no emulator: final.ts checks that nothing of xbuild is left
  } else if (!qarch) {
    out.push(finding('platform-not-emulated', undefined, `the image platform ${platform} is not one xbuild emulates (${EMULATED_PLATFORMS})`,
      'verify an image of an emulated platform, or pick one entry of an index with --platform linux/arm/v7'));
  } else {
    const path = emulatorInImage(qarch);
    checked.emulator = path;
    const others = [...view.paths()].filter((p) => EMULATOR_PATH.test(p) && p !== path).sort();
    const problems = checkHostBinary(view, path, 'emulator', out);
    const note = xbuildNoteText(view, path, NT_XBUILD_EXECVE);
    if (note !== undefined) checked.emulatorNote = note;
    if (problems.includes('missing') && others.length > 0) {
      out.push(finding('emulator-wrong-arch', others[0], `found ${others.join(', ')}, which emulates another architecture than ${platform}`,
        `wrap the image for its own platform: ${platform} needs ${path}`));
    } else {
      // sibling emulators (wrap --extra-emulators) must be xbuild's too: the image's emulator hands programs to them
      for (const other of others) {
        checkHostBinary(view, other, 'emulator', out);
        checked.extraEmulators.push(other);
      }
    }
  }

  // 2. shims (only where xbuild applies: a non-emulated platform already failed above)
  for (const path of qarch && !opts.final ? [CROSS_BUILD_START, CROSS_BUILD_END] : []) {
    checked.shims.push(path);
    checkHostBinary(view, path, 'shim', out);
    const note = xbuildNoteText(view, path, NT_XBUILD_SHIM);
    if (note !== undefined) checked.shimNotes[path] = note;
    const l = view.lookup(path);
    const digest = l.found ? l.node.content?.digest : undefined;
    if (digest && opts.shimDigests && opts.shimDigests.length > 0 && !opts.shimDigests.includes(digest)) {
      out.push(finding('shim-differs-from-build', path, `${path} (${digest.slice(0, 19)}) is not byte-identical to the local xbuild shim build`, fix.shim));
    }
  }
  // the shim passes its levers to the emulator: an emulator of an older series fails every RUN line with "unknown option"
  const emuSeries = checked.emulatorNote === undefined ? undefined : parseEmulatorNote(checked.emulatorNote)?.series;
  for (const [path, note] of Object.entries(checked.shimNotes)) {
    const shimVersion = parseShimNote(note);
    const lacks = emuSeries === undefined || shimVersion === undefined ? [] : leversTheEmulatorLacks(shimVersion, emuSeries);
    if (lacks.length > 0) {
      out.push(finding('emulator-older-than-shim', checked.emulator, `${path} (shim version ${shimVersion}) starts the emulator with ${lacks.join(', ')}, which /${checked.emulator} (patch series ${emuSeries}) rejects: every emulated RUN line would fail`, fix.emulator));
      break;
    }
  }
  if (qarch && !opts.final && (!opts.shimDigests || opts.shimDigests.length === 0)) {
    out.push(finding('shim-not-compared', undefined, 'shims were checked by their ELF note, not compared byte for byte with a local shim build',
      'pass --shim FILE (the built xbuild shim) to also require byte-identical shims'));
  }

  // 3. cross-build mode
  const state = view.lookup(STATE_FILE);
  if (state.found) {
    const listed = (state.node.content?.text ?? '').split('\n').map((s) => s.trim()).filter(Boolean);
    out.push(finding('cross-build-active', STATE_FILE, `the image is still in cross-build mode${listed.length ? ` (swapped: ${listed.join(', ')})` : ''}`, fix.end));
  }
  if (view.lookup(DPKG_HOOK).found) {
    out.push(finding('cross-build-dpkg-hook-left', DPKG_HOOK, `/${DPKG_HOOK} (written by cross-build-start for dpkg) is still there`, fix.end));
  }
  for (const p of [...view.paths()].filter((x) => x.endsWith(ORIGINAL_SUFFIX)).sort()) {
    out.push(finding('cross-build-original-left', p, `${p} is a saved original from cross-build-start: ${p.slice(0, -ORIGINAL_SUFFIX.length)} is still swapped`, fix.end));
  }
  checked.shells.push(...checkShells(view, expected, platform, out));

  // 4. config platform vs ELF files
  if (!expected) {
    out.push(finding('platform-unknown-arch', undefined, `no ELF expectations for ${platform}; platform checks skipped`, 'nothing to do unless the image is meant for another platform'));
  } else {
    const sample = sampleElfFiles(view, opts.sampleSize ?? 24);
    checked.sampled = sample.map((s) => s.path);
    if (sample.length === 0) {
      out.push(finding('platform-no-elf-sample', undefined, `no ELF files in /bin or /usr/bin to compare with ${platform}`, 'nothing to do for images without binaries'));
    } else {
      // files of a target whose sibling emulator the image carries (wrap --extra-emulators) are expected there
      const siblings = new Set(checked.extraEmulators.map((p) => p.slice(p.lastIndexOf('/') + 1)));
      const ofSibling = (e: Sampled['elf']) => { const a = qemuArchOfElf(e); return a !== undefined && siblings.has(emulatorFileName(a)); };
      const own = sample.filter((x) => !(x.elf.machine !== expected.machine && ofSibling(x.elf)));
      const sib = sample.filter((x) => !own.includes(x));
      if (sib.length > 0) {
        out.push(finding('platform-sibling-files', sib[0]!.path, `${sib.length} sampled file(s) are for a sibling emulator the image carries (${sib.slice(0, 3).map((x) => `/${x.path}`).join(', ')}): not compared with ${platform}`, 'nothing to do: the image\'s emulator hands them to the sibling'));
      }
      checkPlatform(own, expected, platform, out);
    }
  }
  return { findings: out, checked };
}

type Problem = 'missing' | 'other';

function xbuildNoteText(view: FsView<ContentInfo>, path: string, type: number): string | undefined {
  const l = view.lookup(path);
  const elf = l.found ? l.node.content?.elf : undefined;
  return elf ? noteText(elf, XBUILD_NOTE_NAME, type) : undefined;
}

function checkHostBinary(view: FsView<ContentInfo>, path: string, role: HostBinaryRole, out: Finding[]): Problem[] {
  const id = (s: string) => `${role}-${s}` as FindingId;
  const hint = role === 'emulator' ? fix.emulator : fix.shim;
  const l = view.lookup(path);
  if (!l.found) {
    out.push(finding(id('missing'), path, `/${path} is missing${l.reason !== 'missing' ? ` (${l.reason} at /${l.path})` : ''}`, fix.wrap));
    return ['missing'];
  }
  const shown = l.path === path ? `/${path}` : `/${path} (-> /${l.path})`;
  if (l.node.kind !== 'file') { out.push(finding(id('not-file'), path, `${shown} is not a regular file`, hint)); return ['other']; }
  const problems: Problem[] = [];
  if ((l.node.mode & 0o111) === 0) { out.push(finding(id('not-executable'), path, `${shown} is not executable (mode ${l.node.mode.toString(8)})`, 'wrap again: the file must be mode 0755')); problems.push('other'); }
  const c = l.node.content;
  if (!c) { out.push(finding(id('unreadable'), path, `${shown} was not read (a hard link to a file outside the directories verify reads?), so it is not proven`, hint)); return ['other']; }
  if (!c.isElf || !c.elf) {
    out.push(finding(id('not-elf'), path, `${shown} is not an ELF file${c.elfError ? ` (${c.elfError})` : c.shebang ? ` (${c.shebang.slice(0, 60)})` : ''}`, hint));
    return ['other'];
  }
  const e = c.elf;
  const bad = hostBinaryProblems(e, role);
  if (bad.includes('not-host-native')) {
    out.push(finding(id('not-host-native'), path, `${shown} is ${describeMachine(e.machine)} ELF${e.class} ${e.endianness}-endian, e_type ${e.type}, not an x86_64 (62) ELF64 little-endian executable (ET_EXEC/ET_DYN): the host kernel cannot run it`, hint));
    problems.push('other');
  }
  if (e.incomplete.some((x) => x === 'PT_DYNAMIC' || x === 'PT_INTERP')) {
    out.push(finding(id('unreadable'), path, `${shown}: ${e.incomplete.join(', ')} could not be read within verify's capture limits, so its linkage is not proven`, 'report this image to the xbuild maintainers'));
  }
  if (bad.includes('dynamic')) {
    const why = [e.interpreter !== undefined ? `interpreter ${e.interpreter}` : '', e.needed.length ? `needs ${e.needed.slice(0, 4).join(', ')}${e.needed.length > 4 ? ', ...' : ''}` : ''].filter(Boolean).join('; ');
    out.push(finding(id('dynamic'), path, `${shown} is dynamically linked (${why}): inside the image it fails with "no such file or directory"`, hint));
    problems.push('other');
  }
  if (bad.includes('no-xbuild-note')) {
    out.push(finding(id('no-xbuild-note'), path, `${shown} has no "${XBUILD_NOTE_NAME}" ELF note of type ${NOTE_TYPE_OF[role]}: ${role === 'emulator' ? 'not xbuild\'s execve-intercepting build' : 'not a shim xbuild generated'}`, hint));
    problems.push('other');
  }
  return problems;
}

interface Sampled { path: string; elf: NonNullable<ContentInfo['elf']> }

function sampleElfFiles(view: FsView<ContentInfo>, n: number): Sampled[] {
  const out: Sampled[] = [];
  const sh = view.lookup('bin/sh');
  const isXbuild = (c: ContentInfo | undefined) => c?.elf?.notes.some((x) => x.name === XBUILD_NOTE_NAME);
  if (sh.found && sh.node.content?.elf && !isXbuild(sh.node.content)) out.push({ path: sh.path, elf: sh.node.content.elf });
  const candidates = [...view.paths()]
    .filter((p) => (p.startsWith('bin/') || p.startsWith('usr/bin/')) && !p.endsWith(ORIGINAL_SUFFIX) && !EMULATOR_PATH.test(p)
      && p !== CROSS_BUILD_START && p !== CROSS_BUILD_END && !out.some((s) => s.path === p))
    .sort();
  for (const p of candidates) {
    if (out.length >= n + 1) break;
    const node = view.get(p);
    const c = node?.kind === 'file' ? node.content : undefined;
    if (c?.elf && !isXbuild(c)) out.push({ path: p, elf: c.elf });
  }
  return out;
}

function checkPlatform(sample: Sampled[], exp: ExpectedElf, platform: string, out: Finding[]): void {
  const fixPlatform = 'fix the config\'s architecture/variant, or build the image for the platform it claims (docker buildx --platform)';
  const list = (xs: Sampled[]) => `${xs.slice(0, 3).map((s) => `/${s.path}`).join(', ')}${xs.length > 3 ? ', ...' : ''}`;
  const wrongMachine = sample.filter((s) => s.elf.machine !== exp.machine);
  if (wrongMachine.length > 0) {
    const machines = [...new Set(wrongMachine.map((s) => describeMachine(s.elf.machine)))].join(', ');
    out.push(finding('platform-machine-mismatch', wrongMachine[0]!.path,
      `config says ${platform} (${describeMachine(exp.machine)}) but ${wrongMachine.length} of ${sample.length} sampled ELF files are ${machines}: ${list(wrongMachine)}`, fixPlatform));
  }
  const same = sample.filter((s) => s.elf.machine === exp.machine);
  const wrongClass = same.filter((s) => s.elf.class !== exp.class);
  if (wrongClass.length > 0) {
    out.push(finding('platform-class-mismatch', wrongClass[0]!.path, `config says ${platform} (ELF${exp.class}) but ${wrongClass.length} sampled files are ELF${wrongClass[0]!.elf.class}: ${list(wrongClass)}`, fixPlatform));
  }
  const wrongOrder = same.filter((s) => s.elf.endianness !== exp.endianness);
  if (wrongOrder.length > 0) {
    out.push(finding('platform-endianness-mismatch', wrongOrder[0]!.path,
      `config says ${exp.label} (${exp.endianness}-endian) but ${wrongOrder.length} of ${same.length} sampled ${describeMachine(exp.machine)} files are ${wrongOrder[0]!.elf.endianness}-endian: ${list(wrongOrder)}`, fixPlatform));
  }
  const fit = same.filter((s) => s.elf.class === exp.class && s.elf.endianness === exp.endianness);
  if (exp.riscvFloatAbi) {
    const want = exp.riscvFloatAbi;
    const wrongFloat = fit.filter((s) => s.elf.riscv && s.elf.riscv.floatAbi !== want);
    if (wrongFloat.length > 0) {
      out.push(finding('platform-float-abi-mismatch', wrongFloat[0]!.path,
        `config says ${exp.label} but ${wrongFloat.length} of ${fit.length} sampled RISC-V files use the ${wrongFloat[0]!.elf.riscv!.floatAbi}-float ABI (e_flags 0x${wrongFloat[0]!.elf.flags.toString(16)}): ${list(wrongFloat)}`,
        'Debian and the official riscv64 images are lp64d; an image of another float ABI is not linux/riscv64 as runtimes expect it: rebuild it for lp64d'));
    }
  }
  if (exp.ppc64Abi !== undefined) {
    const want = exp.ppc64Abi;
    const wrongAbi = fit.filter((s) => s.elf.ppc64 && s.elf.ppc64.abiVersion !== 0 && s.elf.ppc64.abiVersion !== want);
    if (wrongAbi.length > 0) {
      out.push(finding('platform-abi-mismatch', wrongAbi[0]!.path,
        `config says ${exp.label} but ${wrongAbi.length} of ${fit.length} sampled ppc64 files are ELFv${wrongAbi[0]!.elf.ppc64!.abiVersion}: ${list(wrongAbi)}`, fixPlatform));
    }
    const unsaid = fit.filter((s) => !s.elf.ppc64 || s.elf.ppc64.abiVersion === 0);
    if (unsaid.length > 0) {
      out.push(finding('platform-not-checked', unsaid[0]!.path,
        `not checked for ${platform}: the ABI of ${unsaid.length} ppc64 file(s) whose e_flags do not say ELFv1 or ELFv2: ${list(unsaid)}`,
        'nothing proves these files fit ELFv2: check them by hand'));
    }
  }
  if (exp.machine !== EM_ARM) return;
  // what could not be judged is said, never passed silently
  const notChecked: string[] = [];
  if (exp.unchecked) notChecked.push(exp.unchecked);
  const unknownFloat = exp.floatAbi ? same.filter((s) => !s.elf.arm || s.elf.arm.floatAbi === 'unknown') : [];
  if (unknownFloat.length > 0) notChecked.push(`the float ABI of ${unknownFloat.length} file(s) (no float flag in e_flags, or EABI older than 5): ${list(unknownFloat)}`);
  const noAttrs = exp.maxCpuArch !== undefined ? same.filter((s) => s.elf.arm?.attributes?.cpuArch === undefined) : [];
  if (noAttrs.length > 0) notChecked.push(`the architecture version of ${noAttrs.length} file(s) without .ARM.attributes: ${list(noAttrs)}`);
  if (notChecked.length > 0) {
    out.push(finding('platform-not-checked', (unknownFloat[0] ?? noAttrs[0])?.path, `not checked for ${platform}: ${notChecked.join('; ')}`,
      'nothing proves these files fit the platform: check them by hand, or use a variant verify knows (arm/v5, v6, v7, v8)'));
  }
  if (exp.floatAbi) {
    const wrongFloat = same.filter((s) => s.elf.arm && s.elf.arm.floatAbi !== 'unknown' && s.elf.arm.floatAbi !== exp.floatAbi);
    if (wrongFloat.length > 0) {
      out.push(finding('platform-float-abi-mismatch', wrongFloat[0]!.path,
        `config says ${exp.label} but ${wrongFloat.length} of ${same.length} sampled ARM files are ${wrongFloat[0]!.elf.arm!.floatAbi}-float (${wrongFloat[0]!.elf.arm!.floatAbi === 'hard' ? 'armhf: arm/v7 or arm/v6' : 'armel: arm/v5'}): ${list(wrongFloat)}`, fixPlatform));
    }
  }
  if (exp.maxCpuArch !== undefined) {
    const max = exp.maxCpuArch;
    const tooNew = same.filter((s) => (s.elf.arm?.attributes?.cpuArch ?? -1) > max);
    if (tooNew.length > 0) {
      out.push(finding('platform-arch-version-mismatch', tooNew[0]!.path,
        `config says ${exp.label} but ${tooNew.length} of ${same.length} sampled ARM files need ${tooNew[0]!.elf.arm!.attributes!.cpuArchName}: ${list(tooNew)}`, fixPlatform));
    }
  }
}

function describeMachine(m: number): string {
  return `${machineName(m)} (${m})`;
}
