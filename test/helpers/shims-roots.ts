// Real ARM root trees for the shim tests and bench/shim, made from Debian's
// armhf/arm64 packages (`apt-get download` + `dpkg-deb -x`, never installed).
//
// Flavors:
//   debian-dash        scripts/fixtures/arm-rootfs.sh debian-dash: merged /usr (/bin -> usr/bin),
//                      /bin/sh -> dash, bash, coreutils, sed, grep, busybox; Debian's /etc/shells
//   debian-bash        scripts/fixtures/arm-rootfs.sh debian-bash: split layout, /bin/sh -> bash (bash as sh)
//   busybox            scripts/fixtures/arm-rootfs.sh busybox: Alpine-style, /bin/sh -> /bin/busybox,
//                      absolute applet symlinks, no /etc/shells
//   debian-dash-split  built here: split layout (/bin a directory), /bin/sh -> dash, coreutils
//   debian-dpkg        built here: debian-dash-split plus bash, dpkg and tar with a minimal dpkg
//                      database (package upgrades during cross-build mode)
// Trees built here are cached under ${XBUILD_CACHE_DIR:-~/.cache/xbuild}/fixtures/shims-roots/
// keyed by their recipe; tests always work on private copies (copyRoot).
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, rename, rm, stat, writeFile, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cacheRoot as xbuildCacheRoot } from '../../src/cache-root.ts';

const run = promisify(execFile);

export type DebArch = 'armhf' | 'arm64';
export type RootFlavor = 'debian-dash' | 'debian-bash' | 'busybox' | 'debian-dash-split' | 'debian-dpkg';
type LocalFlavor = 'debian-dash-split' | 'debian-dpkg';
/** Flavors made by the project's fixture script (issue: qemu-tests). */
const SCRIPT_FLAVORS = new Set<RootFlavor>(['debian-dash', 'debian-bash', 'busybox']);
/** Debian's /etc/shells (debianutils generates it at install time, which dpkg-deb -x does not run). */
export const DEBIAN_SHELLS = '# /etc/shells: valid login shells\n/bin/sh\n/usr/bin/sh\n/bin/bash\n/usr/bin/bash\n/bin/rbash\n/usr/bin/rbash\n/bin/dash\n/usr/bin/dash\n';

const CORE = ['libc6', 'coreutils', 'libacl1', 'libattr1', 'libgmp10', 'libselinux1', 'libpcre2-8-0'];
const PACKAGES: Record<LocalFlavor, string[]> = {
  'debian-dash-split': [...CORE, 'dash'],
  'debian-dpkg': [...CORE, 'dash', 'bash', 'libtinfo6', 'dpkg', 'tar', 'libbz2-1.0', 'liblzma5', 'libmd0', 'libzstd1', 'zlib1g'],
};
const SHELLS: Record<LocalFlavor, string> = {
  'debian-dash-split': '/bin/sh\n/bin/dash\n/usr/bin/dash\n',
  'debian-dpkg': DEBIAN_SHELLS,
};
const RECIPE_VERSION = 5;
const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The xbuild cache root of this test process (src/cache-root.ts). */
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

async function buildTree(arch: DebArch, flavor: LocalFlavor, dest: string, debs: string[]): Promise<void> {
  await mkdir(dest, { recursive: true });
  for (const deb of debs) await run('dpkg-deb', ['-x', deb, dest]);
  // documentation is not needed and makes every copy slower
  for (const d of ['usr/share/doc', 'usr/share/man', 'usr/share/locale', 'usr/share/info', 'usr/share/lintian']) {
    await rm(join(dest, d), { recursive: true, force: true });
  }
  for (const d of ['etc', 'tmp', 'root', 'usr/bin', 'usr/lib', 'var/lib', 'proc', 'dev']) await mkdir(join(dest, d), { recursive: true });
  await chmod(join(dest, 'tmp'), 0o1777);
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
export async function pristineRoot(arch: DebArch, flavor: LocalFlavor): Promise<string> {
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

/** A private, writable copy of the `arch`/`flavor` tree under `parent`. */
export async function copyRoot(arch: DebArch, flavor: RootFlavor, parent: string): Promise<string> {
  const dest = join(parent, `${arch}-${flavor}-${randomBytes(4).toString('hex')}`);
  if (SCRIPT_FLAVORS.has(flavor)) {
    await run('bash', [join(REPO, 'scripts/fixtures/arm-rootfs.sh'), arch, flavor, dest], { maxBuffer: 1 << 24 }).catch((err) => {
      throw new Error(`scripts/fixtures/arm-rootfs.sh ${arch} ${flavor} failed: ${err.stderr || err.message}`);
    });
    if (flavor !== 'busybox') await writeFile(join(dest, 'etc/shells'), DEBIAN_SHELLS);
    return dest;
  }
  const src = await pristineRoot(arch, flavor as LocalFlavor);
  await run('cp', ['-a', src, dest]);
  await rm(join(dest, '.complete'), { force: true });
  return dest;
}

/** sha256 of a file's bytes. */
export async function sha256File(p: string): Promise<string> {
  return createHash('sha256').update(await readFile(p)).digest('hex');
}
