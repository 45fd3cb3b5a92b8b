// Test helper: writes xbuild layer entries into a directory tree (an unpacked
// image root), as the layer applied on top of it would.
import { createWriteStream } from 'node:fs';
import { chmod, lstat, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { wrapError } from '../../src/errors.ts';
import type { LayerEntry } from '../../src/layer/entry.ts';
import { xbuildLayerEntries, type XbuildLayerInputs } from '../../src/shims/layer.ts';

/**
 * Writes layer entries into a directory tree (an unpacked image root), as a
 * layer applied on top of it would: parents created, files and symlinks
 * replaced, modes set exactly.
 */
export async function installLayerEntries(root: string, entries: LayerEntry[]): Promise<void> {
  for (const e of entries) {
    const dest = join(root, e.path);
    try {
      await mkdir(dirname(dest), { recursive: true });
      if (e.type === 'dir') {
        const st = await lstat(dest).catch(() => undefined);
        if (st && !st.isDirectory()) await rm(dest, { recursive: true, force: true });
        await mkdir(dest, { recursive: true });
        await chmod(dest, e.mode);
        continue;
      }
      await rm(dest, { force: true });
      if (e.type === 'symlink') {
        if (e.linkname === undefined) throw new Error('symlink entry without linkname');
        await symlink(e.linkname, dest);
      } else if (Buffer.isBuffer(e.content)) {
        await writeFile(dest, e.content, { mode: e.mode });
        await chmod(dest, e.mode);
      } else if (e.content) {
        await pipeline(await e.content(), createWriteStream(dest, { mode: e.mode }));
        await chmod(dest, e.mode);
      } else {
        await writeFile(dest, Buffer.alloc(0), { mode: e.mode });
        await chmod(dest, e.mode);
      }
    } catch (err) {
      throw wrapError(`installing ${e.path} into ${root}`, err);
    }
  }
}

/** Shortcut: the layer for `inputs`, installed into `root`. */
export async function installXbuildLayer(root: string, inputs: XbuildLayerInputs): Promise<LayerEntry[]> {
  const entries = await xbuildLayerEntries(inputs);
  await installLayerEntries(root, entries);
  return entries;
}
