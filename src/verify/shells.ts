// The shell rules, following the swap contract (contract/in-image.ts):
// exactly the paths cross-build-start can swap are checked, each resolved
// through every link as the kernel would. The shim reached from a shell path
// by any route (symlink, hard link, a #! line naming it) is an error; so is
// anything at a shell path that is not an ELF of the image's machine (a
// script, a FIFO, a dangling link or a loop).
import { EM_X86_64, machineName } from '../elf/constants.ts';
import { findNote } from '../elf/inspect.ts';
import type { FsView } from '../layer/fs-view.ts';
import { NT_XBUILD_SHIM, SHELLS_FILE, XBUILD_NOTE_NAME, swappableShells } from '../contract/in-image.ts';
import type { ContentInfo } from './collect.ts';
import { displayPath } from './escape.ts';
import type { ExpectedElf } from './expect.ts';
import { finding, type Finding } from './findings.ts';

const END_HINT = 'add RUN ["cross-build-end"] after the last emulated RUN line of the Dockerfile';
const MAX_SHEBANG_DEPTH = 4; // the kernel's binfmt_script recursion limit

/** The paths whose content the shell rules read: /etc/shells, each shell and each #! interpreter met so far. */
export function shellPathsToRead(view: FsView<ContentInfo>): string[] {
  const out = [SHELLS_FILE];
  for (const sh of shellsOf(view)) {
    out.push(sh);
    let p: string | undefined = sh;
    for (let depth = 0; p && depth < MAX_SHEBANG_DEPTH; depth++) {
      const l = view.lookup(p);
      p = l.found ? interpreterOf(l.node.content?.shebang) : undefined;
      if (p) out.push(p);
    }
  }
  return out;
}

export function shellsOf(view: FsView<ContentInfo>): string[] {
  const l = view.lookup(SHELLS_FILE);
  return swappableShells(l.found && l.node.kind === 'file' ? l.node.content?.text ?? '' : undefined);
}

/** The interpreter path of a "#!" line, as the kernel splits it (first word after optional blanks). */
export function interpreterOf(shebang: string | undefined): string | undefined {
  if (!shebang?.startsWith('#!')) return undefined;
  const m = /^#![ \t]*([^ \t\n]+)/.exec(shebang);
  return m ? m[1]! : undefined;
}

const isShim = (c: ContentInfo | undefined) => Boolean(c?.elf && findNote(c.elf, XBUILD_NOTE_NAME, NT_XBUILD_SHIM));
const describe = (m: number) => `${machineName(m)} (${m})`;

export function checkShells(view: FsView<ContentInfo>, expected: ExpectedElf | undefined, platform: string, out: Finding[]): string[] {
  const checked: string[] = [];
  const seen = new Set<string>();
  for (const sh of shellsOf(view)) {
    const here = view.lookup(sh, false);
    const shown0 = `/${displayPath(sh)}`;
    if (!here.found && here.reason === 'missing') {
      if (sh === 'bin/sh') out.push(finding('shell-missing', sh, `/bin/sh is missing; shell-form RUN lines cannot work`, 'use a base image that has /bin/sh, or only exec-form RUN lines'));
      continue; // cross-build-start swaps only what exists
    }
    const l = view.lookup(sh);
    if (!l.found) {
      out.push(finding('shell-unresolvable', sh, `${shown0} does not lead to a file (${l.reason} at /${displayPath(l.path)}): the kernel cannot start it`, 'make the shell a link to the distribution\'s shell binary, or remove it'));
      continue;
    }
    if (seen.has(l.path)) continue; // /bin/sh, /usr/bin/sh, /bin/dash ... often name one file: report it once
    seen.add(l.path);
    checked.push(sh);
    const shown = l.path === sh ? shown0 : `${shown0} (-> /${displayPath(l.path)})`;
    if (l.node.kind !== 'file') {
      out.push(finding('shell-not-elf', sh, `${shown} is a ${l.node.kind === 'dir' ? 'directory' : 'special file (FIFO or device)'}, not an ELF program`, 'put the distribution\'s shell binary there'));
      continue;
    }
    const c = l.node.content;
    if (!c) { out.push(finding('file-unreadable', sh, `${shown} was not read`, 'report this image to the xbuild maintainers')); continue; }
    if (c.isElf && c.elf) {
      if (isShim(c)) out.push(finding('shell-is-shim', sh, `${shown} is the xbuild host-native shim: the image was left in cross-build mode`, END_HINT));
      else if (expected && c.elf.machine !== expected.machine) {
        out.push(finding('shell-wrong-arch', sh, `${shown} is ${describe(c.elf.machine)}, not ${describe(expected.machine)} for ${platform}`,
          c.elf.machine === EM_X86_64 ? END_HINT : 'fix the config\'s architecture/variant or rebuild the image for its platform'));
      }
      continue;
    }
    if (c.isElf) { out.push(finding('shell-not-elf', sh, `${shown}: ${c.elfError ?? 'unreadable ELF'}`, 'check the layer that wrote it')); continue; }
    // a #! script: follow the interpreter chain like the kernel; the shim anywhere on it is the shim at a shell path
    let interp = interpreterOf(c.shebang);
    let viaShim = false;
    for (let depth = 0; interp && depth < MAX_SHEBANG_DEPTH && !viaShim; depth++) {
      const il = view.lookup(interp);
      if (!il.found || il.node.kind !== 'file') break;
      viaShim = isShim(il.node.content);
      interp = interpreterOf(il.node.content?.shebang);
    }
    if (viaShim) out.push(finding('shell-is-shim', sh, `${shown} is a #! script run by the xbuild shim (${displayPath(c.shebang!.slice(0, 80))})`, END_HINT));
    else out.push(finding('shell-not-elf', sh, `${shown} is not an ELF program${c.shebang ? ` (${displayPath(c.shebang.slice(0, 80))})` : ''}; cross-build-start swaps only ELF shells`, 'put the distribution\'s shell binary there'));
  }
  return checked;
}
