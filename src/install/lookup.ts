// Where wrap (and doctor) take the emulators and the shim from, in this order:
//   1. --qemu-dir DIR           (qemu-<arch>-static; xbuild-shim when DIR has one)
//   2. the platform package     (@xbuild/linux-x64 installed beside the CLI; see platform-package.ts)
//   3. the user cache           (filled by `xbuild qemu build`: emulators and shim)
// Nothing here compiles anything. A mismatch (a platform package of another
// xbuild version or patch series, cache entries of another series or shim
// source only) is refused with one line naming what to do, never skipped.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { XbuildError } from '../errors.ts';
import { cacheRoot, type Env } from '../cache-root.ts';
import { emulatorFileName, SHIM_VERSION } from '../contract/in-image.ts';
import type { QemuArch } from '../oci/platform.ts';
import { listCacheEntries, qemuCacheDir } from '../qemu/cache.ts';
import { checkEmulator } from '../qemu/elf-check.ts';
import { readSeries, type Series } from '../qemu/series.ts';
import { findShimSourceDir, SHIM_FILE_NAME, shimSourceSha256 } from '../shims/build.ts';
import { checkShimBinary } from '../shims/elf-check.ts';
import {
  checkPackagedFile, findPlatformPackage, packagedBinary, PLATFORM_PACKAGE, readPlatformManifest, type PlatformManifest,
} from './platform-package.ts';

export type Origin = 'qemu-dir' | 'platform-package' | 'cache';

export interface Located {
  path: string;
  origin: Origin;
  /** QEMU version when the origin records it (platform package manifest, cache build.json). */
  qemuVersion?: string;
}

export interface LookupOptions {
  env: Env;
  /** This CLI's version (a platform package must carry the same). */
  xbuildVersion: string;
  qemuDir?: string;
  /** The platform package directory; default: found beside this module. `null`: act as if none is installed. */
  platformPackageDir?: string | null;
  /** Default: the series shipped with this installation (patches/). */
  series?: Series;
}

const BUILD_HINT = 'run `xbuild qemu build` (builds emulators and shim into the cache), install the platform package, or pass --qemu-dir DIR';

/** The platform package in use, checked against this CLI (version, series), or undefined when none is installed. */
export async function loadPlatformPackage(opts: LookupOptions): Promise<{ dir: string; manifest: PlatformManifest } | undefined> {
  const dir = opts.platformPackageDir === null ? undefined : opts.platformPackageDir ?? findPlatformPackage();
  if (!dir) return undefined;
  const manifest = await readPlatformManifest(dir);
  const remedy = `install ${PLATFORM_PACKAGE}@${opts.xbuildVersion} beside xbuild (the release tarball of the same version), or remove ${dir} to use \`xbuild qemu build\``;
  if (manifest.xbuildVersion !== opts.xbuildVersion) {
    throw new XbuildError('NO_EMULATOR', `${PLATFORM_PACKAGE} at ${dir} is for xbuild ${manifest.xbuildVersion}, this is xbuild ${opts.xbuildVersion}`, { hint: remedy });
  }
  const series = opts.series ?? await readSeries();
  if (manifest.series.hash !== series.hash) {
    throw new XbuildError('NO_EMULATOR', `${PLATFORM_PACKAGE} at ${dir} was built from patch series ${manifest.series.version} (${manifest.series.hash.slice(0, 12)}), this xbuild ships series ${series.version} (${series.hash.slice(0, 12)})`, { hint: remedy });
  }
  return { dir, manifest };
}

async function isFile(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isFile(), () => false);
}

/** A packaged binary after its digest check (a damaged install is refused, not used). */
async function fromPackage(pkg: { dir: string; manifest: PlatformManifest }, file: string): Promise<string | undefined> {
  const name = packagedBinary(file);
  if (!pkg.manifest.files[name]) return undefined;
  const problem = await checkPackagedFile(pkg.dir, pkg.manifest, name);
  if (problem) {
    throw new XbuildError('NO_EMULATOR', `${PLATFORM_PACKAGE} at ${pkg.dir} is damaged: ${problem}`, { hint: `reinstall ${PLATFORM_PACKAGE}` });
  }
  return join(pkg.dir, ...name.split('/'));
}

/** qemu-<arch>-static by the lookup order. */
export async function locateEmulator(arch: QemuArch, opts: LookupOptions): Promise<Located> {
  const file = emulatorFileName(arch);
  if (opts.qemuDir) {
    const p = join(resolve(opts.qemuDir), file);
    if (await isFile(p)) return { path: p, origin: 'qemu-dir' };
    throw new XbuildError('NO_EMULATOR', `no ${file} (emulator for ${arch}) in --qemu-dir ${opts.qemuDir}`, { hint: BUILD_HINT });
  }
  const series = opts.series ?? await readSeries();
  const pkg = await loadPlatformPackage({ ...opts, series });
  if (pkg) {
    const p = await fromPackage(pkg, file);
    if (p) {
      await checkEmulator(p, { seriesVersion: pkg.manifest.series.version, qemuVersion: pkg.manifest.qemu.version });
      return { path: p, origin: 'platform-package', qemuVersion: pkg.manifest.qemu.version };
    }
  }
  const entries = (await listCacheEntries(opts.env)).filter((e) => e.record.outputs[file]);
  const current = entries.find((e) => e.record.series.hash === series.hash);
  if (current) return { path: join(current.dir, file), origin: 'cache', qemuVersion: current.record.qemu.version };
  const other = entries[0];
  if (other) {
    throw new XbuildError('NO_EMULATOR', `the cached ${file} (${other.dir}) was built from patch series ${other.record.series.version} (${other.record.series.hash.slice(0, 12)}), this xbuild ships series ${series.version} (${series.hash.slice(0, 12)})`, {
      hint: 'run `xbuild qemu build` to rebuild it from the current series (or install the platform package of this version)',
    });
  }
  throw new XbuildError('NO_EMULATOR', `no ${file} (emulator for ${arch}): ${pkg ? `${PLATFORM_PACKAGE} has none and ` : `${PLATFORM_PACKAGE} is not installed and `}the cache ${qemuCacheDir(opts.env)} holds none`, { hint: BUILD_HINT });
}

/** The host-native shim (xbuild-shim) by the lookup order. */
export async function locateShim(opts: LookupOptions): Promise<Located> {
  if (opts.qemuDir) {
    const p = join(resolve(opts.qemuDir), SHIM_FILE_NAME);
    if (await isFile(p)) return { path: p, origin: 'qemu-dir' };
  }
  const pkg = await loadPlatformPackage(opts);
  if (pkg) {
    const p = await fromPackage(pkg, SHIM_FILE_NAME);
    if (p) {
      checkShimBinary(await readFile(p), p);
      return { path: p, origin: 'platform-package' };
    }
  }
  return locateCachedShim(opts.env);
}

interface ShimRecord { shimVersion?: number; sourceSha256?: string }

/** The newest shim in <cache>/shim/<key>/ built from this installation's shim source (SHIM_VERSION, shimSourceSha256 of shims/). */
export async function locateCachedShim(env: Env): Promise<Located> {
  const base = join(cacheRoot(env), 'shim');
  const sourceDir = await findShimSourceDir().catch(() => undefined);
  const wantSource = sourceDir ? await shimSourceSha256(sourceDir) : undefined;
  const names = await readdir(base).catch(() => [] as string[]);
  let newest: { path: string; mtime: number } | undefined;
  let stale = 0;
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const dir = join(base, name);
    const rec = await readFile(join(dir, 'build.json'), 'utf8').then((t) => JSON.parse(t) as ShimRecord, () => undefined);
    const path = join(dir, SHIM_FILE_NAME);
    const st = await stat(path).catch(() => undefined);
    if (!rec || !st?.isFile()) continue;
    if (rec.shimVersion !== SHIM_VERSION || (wantSource && rec.sourceSha256 !== wantSource)) { stale++; continue; }
    try {
      checkShimBinary(await readFile(path), path);
    } catch {
      continue;
    }
    if (!newest || st.mtimeMs > newest.mtime) newest = { path, mtime: st.mtimeMs };
  }
  if (newest) return { path: newest.path, origin: 'cache' };
  if (stale > 0) {
    throw new XbuildError('NO_EMULATOR', `the shim in ${base} was built from another shim source than this xbuild's (shim version ${SHIM_VERSION})`, {
      hint: 'run `xbuild qemu build` to rebuild it (or install the platform package of this version)',
    });
  }
  throw new XbuildError('NO_EMULATOR', `no xbuild shim: ${PLATFORM_PACKAGE} is not installed (or has none) and ${base} holds none`, { hint: BUILD_HINT });
}
