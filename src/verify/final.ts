// `verify --final`: an image meant to ship holds nothing of xbuild, neither in
// its merged file system nor hidden in a lower layer, and no io.xbuild.*
// label. (Cross-build state and the platform checks are in rules.ts.)
import { findNote } from '../elf/inspect.ts';
import type { ImageConfig } from '../oci/model.ts';
import { DPKG_HOOK, NT_XBUILD_EXECVE, NT_XBUILD_SHIM, ORIGINAL_SUFFIX, STATE_FILE, XBUILD_NOTE_NAME } from '../contract/in-image.ts';
import { XBUILD_LABEL_PREFIX, isXbuildOwned } from '../contract/owned.ts';
import type { Collected } from './collect.ts';
import { finding, type Finding } from './findings.ts';

const fix = 'run `xbuild unwrap IMAGE -t NEW` and ship NEW: it removes every xbuild file and layer';

export function checkFinal(c: Collected, config: ImageConfig): Finding[] {
  const out: Finding[] = [];
  const visible = new Set<string>();
  // reported by the cross-build rules already
  const stateRelated = (p: string) => p === STATE_FILE || p === DPKG_HOOK || p.endsWith(ORIGINAL_SUFFIX);
  for (const p of [...c.view.paths()].sort()) {
    const node = c.view.get(p)!;
    if (node.kind === 'dir') continue;
    if (isXbuildOwned(p)) {
      visible.add(p);
      if (!stateRelated(p)) out.push(finding('final-xbuild-path', p, `/${p} is an xbuild file (emulator, shim or state); a shipped image must not hold it`, fix));
      continue;
    }
    const elf = node.content?.elf;
    if (elf && (findNote(elf, XBUILD_NOTE_NAME, NT_XBUILD_SHIM) || findNote(elf, XBUILD_NOTE_NAME, NT_XBUILD_EXECVE))) {
      out.push(finding('final-xbuild-bytes', p, `/${p} is an xbuild binary (it carries the "${XBUILD_NOTE_NAME}" ELF note)`, fix));
    }
  }
  const hidden = c.ownedInLayers.filter((o) => !visible.has(o.path));
  for (const o of hidden) {
    out.push(finding('final-xbuild-layer-path', o.path, `layer ${o.layer + 1} holds /${o.path}, hidden by a later layer but still shipped`, fix));
  }
  const labels = Object.keys(config.config?.Labels ?? {}).filter((k) => k.startsWith(XBUILD_LABEL_PREFIX)).sort();
  if (labels.length) out.push(finding('final-xbuild-label', undefined, `the config still has xbuild's labels ${labels.join(', ')}`, fix));
  return out;
}
