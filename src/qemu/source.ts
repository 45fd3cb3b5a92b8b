// What --source names (a QEMU tree, an upstream tarball, a Debian .orig
// tarball, .dsc or unpacked Debian source) and how to get a pristine tree from it.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { XbuildError } from '../errors.ts';

export type SourceKind = 'tree' | 'debian-tree' | 'tarball' | 'debian-orig';

export interface QemuSource {
  kind: SourceKind;
  /** the tree directory or the tarball file to unpack */
  path: string;
  version: string;
  /** sha256 of the tarball, or of a tree's files (path + content) */
  sha256: string;
}

const TARBALL = /\.tar\.(xz|gz|bz2)$/;
/** qemu-10.2.2.tar.xz */
const UPSTREAM_NAME = /^qemu-(\d+\.\d+\.\d+(?:-rc\d+)?)\.tar\.(?:xz|gz|bz2)$/;
/** qemu_10.0.13+ds.orig.tar.xz */
const DEBIAN_ORIG_NAME = /^qemu_(\d+\.\d+\.\d+)(?:\+[a-z0-9.~]+)?\.orig\.tar\.(?:xz|gz|bz2)$/;

/** Classifies a file name without touching the disk (exported for tests). */
export function classifyTarballName(name: string): { kind: 'tarball' | 'debian-orig'; version: string } | undefined {
  let m = UPSTREAM_NAME.exec(name);
  if (m) return { kind: 'tarball', version: m[1]! };
  m = DEBIAN_ORIG_NAME.exec(name);
  if (m) return { kind: 'debian-orig', version: m[1]! };
  return undefined;
}

/** The .orig tarball a Debian .dsc names (looked up next to the .dsc). */
export function origFromDsc(dscText: string): string | undefined {
  const m = /^ [0-9a-f]{64} \d+ (qemu_[^\s]+\.orig\.tar\.(?:xz|gz|bz2))$/m.exec(dscText);
  return m?.[1];
}

export async function detectSource(input: string): Promise<QemuSource> {
  const path = resolve(input);
  const st = await stat(path).catch(() => {
    throw new XbuildError('QEMU_SOURCE', `--source ${input}: no such file or directory`);
  });
  if (st.isDirectory()) return detectTree(path, input);
  const name = basename(path);
  if (name.endsWith('.dsc')) {
    const orig = origFromDsc(await readFile(path, 'utf8'));
    if (!orig) throw new XbuildError('QEMU_SOURCE', `--source ${input}: the .dsc names no qemu_*.orig.tar.* file`);
    return detectSource(join(dirname(path), orig));
  }
  if (!TARBALL.test(name)) {
    throw new XbuildError('QEMU_SOURCE', `--source ${input}: expected a QEMU source directory, a qemu-X.Y.Z.tar.xz, a Debian qemu_*.orig.tar.xz or .dsc`);
  }
  const c = classifyTarballName(name);
  if (!c) throw new XbuildError('QEMU_SOURCE', `--source ${input}: cannot tell the QEMU version from the file name (expected qemu-X.Y.Z.tar.xz or qemu_X.Y.Z+ds.orig.tar.xz)`);
  return { kind: c.kind, path, version: c.version, sha256: await sha256File(path) };
}

async function detectTree(dir: string, input: string): Promise<QemuSource> {
  const version = (await readFile(join(dir, 'VERSION'), 'utf8').catch(() => '')).trim();
  const hasLinuxUser = await stat(join(dir, 'linux-user', 'main.c')).then(() => true, () => false);
  if (!version || !hasLinuxUser) {
    throw new XbuildError('QEMU_SOURCE', `--source ${input}: not a QEMU source tree (no VERSION or linux-user/main.c)`);
  }
  const isDebian = await stat(join(dir, 'debian', 'changelog')).then(() => true, () => false);
  if (isDebian) {
    // An unpacked Debian source has Debian's own patches applied: build from
    // the pristine .orig tarball next to it when it is there.
    const parent = dirname(dir);
    const orig = (await readdir(parent)).find((n) => classifyTarballName(n)?.kind === 'debian-orig' && n.startsWith(`qemu_${version}`));
    if (orig) return detectSource(join(parent, orig));
  }
  return { kind: isDebian ? 'debian-tree' : 'tree', path: dir, version, sha256: await sha256Tree(dir) };
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Directories never part of a source tree's identity. */
const SKIP_DIRS = new Set(['.git', '.pc', 'build', 'pyvenv']);

/** sha256 over (relative path, file sha256) of every regular file, in sorted order. */
export async function sha256Tree(root: string): Promise<string> {
  const h = createHash('sha256');
  const walk = async (dir: string): Promise<void> => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name)) await walk(p);
      } else if (e.isFile()) {
        h.update(`${relative(root, p)}\0${await sha256File(p)}\n`);
      }
    }
  };
  await walk(root);
  return h.digest('hex');
}
