// Real ARM root trees for the shim tests and bench/shim, made from Debian's
// armhf/arm64 packages (`apt-get download` + `dpkg-deb -x`, never installed).
// Pristine trees are cached under ${XBUILD_CACHE_DIR:-~/.cache/xbuild}/fixtures/shims-roots/
// keyed by their recipe; tests work on copies (copyRoot).
//
// Flavors:
//   debian-dash   Debian layout (/bin a directory), /bin/sh -> dash, coreutils
//   debian-bash   /bin/sh -> bash (bash as sh), coreutils
//   merged-usr    /bin -> usr/bin, /lib -> usr/lib, /sbin -> usr/sbin; dash as sh, bash, coreutils;
//                 Debian's /etc/shells listing every shell under both names
//   busybox       Alpine-style: /bin/busybox (static), /bin/sh -> /bin/busybox, applet symlinks
//   debian-dpkg   debian-dash plus bash, dpkg and tar with a minimal dpkg database (package upgrades)
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cp, mkdir, readdir, rename, rm, stat, symlink, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { xbuildCacheRoot } from '../../src/shims/build.ts';

const run = promisify(execFile);

export type DebArch = 'armhf' | 'arm64';
export type RootFlavor = 'debian-dash' | 'debian-bash' | 'merged-usr' | 'busybox' | 'debian-dpkg';
export const ROOT_FLAVORS: RootFlavor[] = ['debian-dash', 'debian-bash', 'merged-usr', 'busybox'];

const CORE = ['libc6', 'coreutils', 'libacl1', 'libattr1', 'libgmp10', 'libselinux1', 'libpcre2-8-0'];
const PACKAGES: Record<RootFlavor, string[]> = {
  'debian-dash': [...CORE, 'dash'],
  'debian-bash': [...CORE, 'bash', 'libtinfo6'],
  'merged-usr': [...CORE, 'dash', 'bash', 'libtinfo6'],
  'busybox': ['busybox-static'],
  'debian-dpkg': [...CORE, 'dash', 'bash', 'libtinfo6', 'dpkg', 'tar', 'libbz2-1.0', 'liblzma5', 'libmd0', 'libzstd1', 'zlib1g'],
};
const SHELLS: Record<RootFlavor, string> = {
  'debian-dash': '/bin/sh\n/bin/dash\n/usr/bin/dash\n',
  'debian-bash': '# /etc/shells: valid login shells\n/bin/sh\n/bin/bash\n/usr/bin/bash\n/bin/rbash\n/usr/bin/rbash\n',
  'merged-usr': '# /etc/shells: valid login shells\n/bin/sh\n/usr/bin/sh\n/bin/bash\n/usr/bin/bash\n/bin/rbash\n/usr/bin/rbash\n/bin/dash\n/usr/bin/dash\n',
  'busybox': '# valid login shells\n/bin/sh\n/bin/ash\n',
  'debian-dpkg': '/bin/sh\n/usr/bin/sh\n/bin/bash\n/usr/bin/bash\n/bin/rbash\n/usr/bin/rbash\n/bin/dash\n/usr/bin/dash\n',
};
const BUSYBOX_APPLETS = ['ash', 'cat', 'echo', 'env', 'false', 'kill', 'ls', 'mkdir', 'rm', 'sh', 'sleep', 'test', 'true', 'tr', 'cut', 'expr', 'sed', 'grep', 'wc', 'head'];
const RECIPE_VERSION = 4;

export function cacheRoot(): string {
  return xbuildCacheRoot(process.env);
}

/** Downloads `pkg:arch` into the shared .deb cache (once) and returns the file path. */
export async function debFile(pkg: string, arch: DebArch): Promise<string> {
  const dir = join(cacheRoot(), 'fixtures', 'debs', arch);
  await mkdir(dir, { recursive: true });
  const prefix = `${pkg}_`;
  const have = (await readdir(dir)).filter((f) => f.startsWith(prefix) && f.endsWith(`_${arch}.deb`));
  if (have.length > 0) return join(dir, have.sort().at(-1)!);
  const tmp = join(dir, `.dl-${pkg}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp);
  try {
    await run('apt-get', ['-o', 'DPkg::Lock::Timeout=600', '-q', 'download', `${pkg}:${arch}`], { cwd: tmp }).catch((err) => {
      throw new Error(`apt-get download ${pkg}:${arch} failed (is ${arch} a foreign architecture and apt-get update done? scripts/install-system-deps.sh): ${err.stderr || err.message}`);
    });
    const got = (await readdir(tmp)).filter((f) => f.endsWith('.deb'));
    if (got.length !== 1) throw new Error(`apt-get download ${pkg}:${arch} gave ${got.length} files`);
    const name = got[0]!.replace(/%3a/gi, '_');
    await rename(join(tmp, got[0]!), join(dir, name));
    return join(dir, name);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

async function buildTree(arch: DebArch, flavor: RootFlavor, dest: string, debs: string[]): Promise<void> {
  const merged = flavor === 'merged-usr';
  const stage = merged ? `${dest}.stage` : dest;
  await mkdir(stage, { recursive: true });
  for (const deb of debs) await run('dpkg-deb', ['-x', deb, stage]);
  if (merged) {
    await mkdir(join(dest, 'usr'), { recursive: true });
    for (const top of await readdir(stage)) {
      if (['bin', 'sbin', 'lib'].includes(top)) {
        await mkdir(join(dest, 'usr', top), { recursive: true });
        await run('cp', ['-a', `${join(stage, top)}/.`, join(dest, 'usr', top)]);
      } else {
        await run('cp', ['-a', join(stage, top), dest]);
      }
    }
    for (const top of ['bin', 'sbin', 'lib']) {
      await mkdir(join(dest, 'usr', top), { recursive: true });
      await symlink(`usr/${top}`, join(dest, top));
    }
    await rm(stage, { recursive: true, force: true });
  }
  // documentation is not needed and makes every copy slower
  for (const d of ['usr/share/doc', 'usr/share/man', 'usr/share/locale', 'usr/share/info', 'usr/share/lintian']) {
    await rm(join(dest, d), { recursive: true, force: true });
  }
  for (const d of ['etc', 'tmp', 'root', 'usr/bin', 'usr/lib', 'var/lib']) await mkdir(join(dest, d), { recursive: true });
  const binDir = join(dest, 'bin');
  await mkdir(binDir, { recursive: true });
  const setSh = async (target: string) => {
    await rm(join(binDir, 'sh'), { force: true });
    await symlink(target, join(binDir, 'sh'));
  };
  if (flavor === 'debian-bash') await setSh('bash');
  if (flavor === 'busybox') {
    for (const a of BUSYBOX_APPLETS) {
      const p = a === 'env' ? join(dest, 'usr/bin', a) : join(binDir, a);
      await rm(p, { force: true });
      await symlink('/bin/busybox', p);
    }
  }
  await writeFile(join(dest, 'etc/shells'), SHELLS[flavor]);
  await writeFile(join(dest, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(dest, 'etc/group'), 'root:x:0:\n');
  if (flavor === 'debian-dpkg') {
    for (const d of ['var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/lib/dpkg/triggers', 'var/lib/dpkg/alternatives', 'etc/dpkg/dpkg.cfg.d', 'var/log']) {
      await mkdir(join(dest, d), { recursive: true });
    }
    await writeFile(join(dest, 'var/lib/dpkg/status'), '');
    await writeFile(join(dest, 'var/lib/dpkg/available'), '');
    await writeFile(join(dest, 'var/lib/dpkg/arch'), `${arch}\n`);
  }
  if (!await exists(join(dest, 'bin/sh'))) throw new Error(`fixture ${arch}/${flavor}: no /bin/sh after extraction`);
}

/** The pristine cached tree for `arch`/`flavor` (built once). Never modify it: use copyRoot. */
export async function pristineRoot(arch: DebArch, flavor: RootFlavor): Promise<string> {
  const debs: string[] = [];
  for (const p of PACKAGES[flavor]) debs.push(await debFile(p, arch));
  const key = createHash('sha256').update(JSON.stringify({ RECIPE_VERSION, flavor, arch, debs: debs.map((d) => d.split('/').pop()), shells: SHELLS[flavor] })).digest('hex').slice(0, 16);
  const base = join(cacheRoot(), 'fixtures', 'shims-roots');
  const final = join(base, `${arch}-${flavor}-${key}`);
  if (await exists(join(final, '.complete'))) return final;
  await mkdir(base, { recursive: true });
  const tmp = join(base, `.tmp-${arch}-${flavor}-${randomBytes(4).toString('hex')}`);
  try {
    await buildTree(arch, flavor, tmp, debs);
    await writeFile(join(tmp, '.complete'), `${key}\n`);
    await rename(tmp, final).catch(async (err) => {
      if (!(await exists(join(final, '.complete')))) throw err; // else: built concurrently by someone else
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
    await rm(`${tmp}.stage`, { recursive: true, force: true });
  }
  return final;
}

/** A private, writable copy of the pristine tree under `parent`. */
export async function copyRoot(arch: DebArch, flavor: RootFlavor, parent: string): Promise<string> {
  const src = await pristineRoot(arch, flavor);
  const dest = join(parent, `${arch}-${flavor}-${randomBytes(4).toString('hex')}`);
  await run('cp', ['-a', src, dest]);
  await rm(join(dest, '.complete'), { force: true });
  return dest;
}

/** sha256 of a file's bytes. */
export async function sha256File(p: string): Promise<string> {
  return createHash('sha256').update(await readFile(p)).digest('hex');
}
