// The platform package of a release (esbuild's model): `@xbuild/linux-x64`,
// an optional dependency of the pure-JS `xbuild` package, holding the prebuilt
// static emulators and shim, QEMU's licence, the patch series and a manifest
// (written by scripts/release.ts, read here). Layout of the package:
//   package.json, manifest.json, README.md, SOURCE.md
//   bin/qemu-<arch>-static, bin/xbuild-shim
//   licenses/qemu/COPYING (+ LICENSE and COPYING.LIB when the source has them)
//   patches/series, patches/*.patch, patches/README.md
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { XbuildError } from '../errors.ts';
import type { EmulatorBuildOptions } from '../qemu/key.ts';

export const PLATFORM_PACKAGE = '@xbuild/linux-x64';
export const PLATFORM_MANIFEST = 'manifest.json';
/** Directory of the binaries inside the package: the same file names as --qemu-dir. */
export const PLATFORM_BIN_DIR = 'bin';
export const MANIFEST_SCHEMA = 1;

export interface PlatformManifest {
  schema: 1;
  name: string;
  /** The xbuild version this package belongs to; must equal the CLI's. */
  xbuildVersion: string;
  platform: 'linux/amd64';
  qemu: {
    version: string;
    /** Exact corresponding source: where to get it and its sha256 (SOURCE.md says more). */
    source: { kind: string; file: string; url: string; sha256: string; debianPackage?: string };
    targets: string[];
    buildOptions: EmulatorBuildOptions;
    toolchain: Record<string, string>;
  };
  series: { version: number; hash: string; patches: { name: string; sha256: string }[] };
  shim: { version: number; sourceSha256: string };
  /** sha256 and size of every file of the package except package.json and this manifest. */
  files: Record<string, { sha256: string; size: number }>;
}

/** The directory of the platform package Node would load from `fromFile` (default: this module, i.e. beside the CLI), if installed. */
export function findPlatformPackage(fromFile: string = import.meta.url): string | undefined {
  try {
    return dirname(createRequire(fromFile).resolve(`${PLATFORM_PACKAGE}/${PLATFORM_MANIFEST}`));
  } catch {
    return undefined;
  }
}

/** Reads and type-checks manifest.json once; a malformed manifest is refused with a reinstall hint. */
export async function readPlatformManifest(dir: string): Promise<PlatformManifest> {
  const path = join(dir, PLATFORM_MANIFEST);
  const bad = (why: string) => new XbuildError('NO_EMULATOR', `${PLATFORM_PACKAGE} at ${dir} is damaged: ${why}`, {
    hint: `reinstall it (npm install ${PLATFORM_PACKAGE}@<xbuild version>, or the release tarball), or remove it to use the cache`,
  });
  let m: PlatformManifest;
  try {
    m = JSON.parse(await readFile(path, 'utf8')) as PlatformManifest;
  } catch (err) {
    throw bad(`cannot read ${PLATFORM_MANIFEST} (${(err as Error).message.split('\n')[0]})`);
  }
  const ok = m && typeof m === 'object' && m.schema === MANIFEST_SCHEMA && typeof m.xbuildVersion === 'string'
    && typeof m.qemu?.version === 'string' && typeof m.series?.hash === 'string' && typeof m.series?.version === 'number'
    && typeof m.shim?.version === 'number' && m.files !== null && typeof m.files === 'object';
  if (!ok) throw bad(`${PLATFORM_MANIFEST} is not a schema ${MANIFEST_SCHEMA} manifest`);
  for (const [name, f] of Object.entries(m.files)) {
    if (name.startsWith('/') || name.split('/').includes('..') || !/^[0-9a-f]{64}$/.test(f?.sha256 ?? '')) throw bad(`bad entry ${JSON.stringify(name)}`);
  }
  return m;
}

export async function sha256Of(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Checks one packaged file against the manifest (size, then sha256); returns a problem or undefined. */
export async function checkPackagedFile(dir: string, m: PlatformManifest, name: string): Promise<string | undefined> {
  const want = m.files[name];
  if (!want) return `${name} is not listed in ${PLATFORM_MANIFEST}`;
  const path = join(dir, ...name.split('/'));
  const st = await stat(path).catch(() => undefined);
  if (!st?.isFile()) return `${name} is missing`;
  if (st.size !== want.size) return `${name} has ${st.size} bytes, the manifest says ${want.size}`;
  const got = await sha256Of(path);
  return got === want.sha256 ? undefined : `${name} has sha256 ${got.slice(0, 12)}..., the manifest says ${want.sha256.slice(0, 12)}...`;
}

/** Relative (slash-separated) manifest name of a binary in the package. */
export const packagedBinary = (file: string): string => `${PLATFORM_BIN_DIR}/${file}`;

/** True when `path` lies inside `dir` (used to label where a file came from). */
