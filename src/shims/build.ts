// Builds the host-native shim (shims/xbuild-shim.c and the parts it includes
// from shims/src/) with the host's gcc into
// the per-user cache, keyed by everything that decides its bytes: source,
// flags, compiler and linker versions. Reproducible: the same inputs give the
// same file (no build-id, no .comment, no debug info, no timestamps).
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { access, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { XbuildError, wrapError } from '../errors.ts';
import { noProgress, type OnProgress } from '../progress.ts';
import {
  CROSS_BUILD_END, CROSS_BUILD_START, DPKG_HOOK, EMULATOR_DIR, EMULATOR_EXECVE_FLAG, EMULATOR_LEVERS, EMULATOR_PREFIX, EMULATOR_SUFFIX,
  GUEST_ELF, NT_XBUILD_EXECVE, NT_XBUILD_SHIM, ORIGINAL_SUFFIX, SHIM_VERSION, STATE_FILE, XBUILD_NOTE_NAME,
} from '../contract/in-image.ts';
import { QEMU_ARCHES } from '../oci/platform.ts';
import { checkShimBinary } from './elf-check.ts';

const run = promisify(execFile);

export const SHIM_SOURCE_NAME = 'xbuild-shim.c';
/** Directory (beside SHIM_SOURCE_NAME) of the parts xbuild-shim.c includes. */
export const SHIM_PARTS_DIR = 'src';
export const SHIM_FILE_NAME = 'xbuild-shim';

const cString = (s: string): string => JSON.stringify(s); // ASCII names only: JSON quoting is C quoting

/** Every compiler flag, in order. The contract names come from contract.ts, so C and TypeScript agree. */
export function shimCompileFlags(): string[] {
  const abs = (p: string) => `/${p}`;
  return [
    '-std=c11', '-Os', '-static', '-nostdlib', '-ffreestanding', '-fno-builtin',
    '-fno-tree-loop-distribute-patterns', '-fno-pie', '-no-pie', '-fno-stack-protector',
    '-fno-asynchronous-unwind-tables', '-fno-unwind-tables', '-fcf-protection=none', '-fno-ident', '-g0',
    '-ffunction-sections', '-fdata-sections',
    '-Wall', '-Wextra', '-Werror',
    '-Wl,--build-id=none', '-Wl,-z,noexecstack', '-Wl,-z,norelro', '-Wl,-z,noseparate-code', '-Wl,--gc-sections',
    '-Wl,--hash-style=gnu', '-s',
    `-DXB_ORIGINAL_SUFFIX=${cString(ORIGINAL_SUFFIX)}`,
    `-DXB_STATE_FILE=${cString(abs(STATE_FILE))}`,
    `-DXB_STATE_DIR=${cString(abs(dirname(STATE_FILE)))}`,
    `-DXB_EMULATOR_PREFIX=${cString(`${abs(EMULATOR_DIR)}/${EMULATOR_PREFIX}`)}`,
    `-DXB_EMULATOR_SUFFIX=${cString(EMULATOR_SUFFIX)}`,
    `-DXB_START_NAME=${cString(abs(CROSS_BUILD_START))}`,
    `-DXB_END_NAME=${cString(abs(CROSS_BUILD_END))}`,
    `-DXB_SHIM_VERSION=${SHIM_VERSION}`,
    `-DXB_NOTE_NAME=${cString(XBUILD_NOTE_NAME)}`,
    `-DXB_NT_SHIM=${NT_XBUILD_SHIM}`,
    `-DXB_NT_EXECVE=${NT_XBUILD_EXECVE}`,
    `-DXB_EXECVE_FLAG=${cString(EMULATOR_EXECVE_FLAG)}`,
    `-DXB_LEVERS=${leverTable()}`,
    `-DXB_DPKG_HOOK=${cString(abs(DPKG_HOOK))}`,
    `-DXB_GUEST_ARCHES=${guestArchTable()}`,
    `-DXB_GUEST_NAMES=${cString(QEMU_ARCHES.join(', '))}`,
  ];
}

/** The contract's EMULATOR_LEVERS as a C initialiser ending in a {0, 0} sentinel: {{"-flag","QEMU_X"},...,{0,0}}. */
export function leverTable(): string {
  return `{${[...EMULATOR_LEVERS.map((l) => `{${cString(l.flag)},${cString(l.env)}}`), '{0,0}'].join(',')}}`;
}

/** The contract's GUEST_ELF as a C initialiser: {{class, data, machine, "target"}, ...} (ELFCLASS32 1/64 2, ELFDATA2LSB 1/MSB 2). */
export function guestArchTable(): string {
  return `{${QEMU_ARCHES.map((a) => {
    const g = GUEST_ELF[a];
    return `{${g.class === 32 ? 1 : 2},${g.endianness === 'little' ? 1 : 2},${g.machine},${cString(a)}}`;
  }).join(',')}}`;
}

/** Finds shims/ of this package from the module's location (src/shims/ or dist/). */
export async function findShimSourceDir(): Promise<string> {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const cand = join(dir, 'shims');
    try {
      await access(join(cand, SHIM_SOURCE_NAME));
      return cand;
    } catch { /* keep looking upwards */ }
    dir = dirname(dir);
  }
  throw new XbuildError('NOT_FOUND', `cannot find shims/${SHIM_SOURCE_NAME} next to the xbuild installation`);
}

export interface EnsureShimOptions {
  /** xbuild cache root (cacheRoot() of src/cache-root.ts). The shim goes to <cacheRoot>/shim/<key>/xbuild-shim. */
  cacheRoot: string;
  /** Directory holding xbuild-shim.c; default: this package's shims/. */
  sourceDir?: string;
  /** C compiler; default gcc. */
  cc?: string;
  onProgress?: OnProgress;
}

async function toolVersion(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(cmd, args);
    return stdout.split('\n')[0]!.trim();
  } catch (err) {
    throw new XbuildError('NOT_FOUND', `cannot run ${cmd} to build the xbuild shim: ${(err as Error).message.split('\n')[0]}`, {
      hint: 'install gcc and binutils (scripts/install-system-deps.sh)', cause: err,
    });
  }
}

/**
 * sha256 over the shim's whole source: xbuild-shim.c and the parts it
 * includes from shims/src/ (each framed by its path and length). Recorded in
 * the cache entry and the platform package; needs no compiler.
 */
export async function shimSourceSha256(sourceDir: string): Promise<string> {
  const partsDir = join(sourceDir, SHIM_PARTS_DIR);
  const parts = (await readdir(partsDir).catch(() => [] as string[])).filter((n) => n.endsWith('.c')).sort();
  const hash = createHash('sha256');
  for (const file of [join(sourceDir, SHIM_SOURCE_NAME), ...parts.map((n) => join(partsDir, n))]) {
    const text = await readFile(file).catch((err) => { throw wrapError(`reading ${file}`, err); });
    hash.update(`${file.slice(sourceDir.length)}\0${text.length}\0`).update(text);
  }
  return hash.digest('hex');
}

/** The cache key of the shim: a hash of its source, flags, compiler and linker. */
export async function shimBuildKey(opts: { sourceDir?: string; cc?: string } = {}): Promise<{ key: string; inputs: Record<string, unknown>; source: string }> {
  const sourceDir = opts.sourceDir ?? await findShimSourceDir();
  const cc = opts.cc ?? 'gcc';
  const source = join(sourceDir, SHIM_SOURCE_NAME);
  const inputs = {
    shimVersion: SHIM_VERSION,
    sourceSha256: await shimSourceSha256(sourceDir),
    flags: shimCompileFlags(),
    cc: await toolVersion(cc, ['--version']),
    ccTarget: await toolVersion(cc, ['-dumpmachine']),
    ld: await toolVersion(cc, ['-print-prog-name=ld']).then((ld) => toolVersion(ld, ['--version'])),
  };
  const key = createHash('sha256').update(JSON.stringify(inputs)).digest('hex').slice(0, 20);
  return { key, inputs, source };
}

/**
 * Returns the path of the built shim, compiling it first when the cache does
 * not hold it. The result is checked: static x86_64 ELF carrying the xbuild
 * shim note. Concurrent callers are safe (build in a private directory, then
 * one atomic rename).
 */
export async function ensureShim(opts: EnsureShimOptions): Promise<string> {
  const onProgress = opts.onProgress ?? noProgress;
  const { key, inputs, source } = await shimBuildKey(opts);
  const base = join(opts.cacheRoot, 'shim');
  const finalDir = join(base, key);
  const out = join(finalDir, SHIM_FILE_NAME);
  try {
    await checkShimBinary(await readFile(out), out);
    return out;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      onProgress({ kind: 'log', message: `rebuilding the shim: ${(err as Error).message}` });
    }
  }
  onProgress({ kind: 'step', message: `building the xbuild shim (${key})` });
  await mkdir(base, { recursive: true });
  const tmpDir = join(base, `.tmp-${key}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmpDir);
  try {
    const tmpOut = join(tmpDir, SHIM_FILE_NAME);
    try {
      await run(opts.cc ?? 'gcc', [...shimCompileFlags(), '-o', tmpOut, source], { cwd: tmpDir });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new XbuildError('QEMU_BUILD', `compiling the xbuild shim failed: ${(e.stderr || e.message).trim().split('\n').slice(0, 5).join(' | ')}`, { cause: err });
    }
    await checkShimBinary(await readFile(tmpOut), tmpOut);
    await writeFile(join(tmpDir, 'build.json'), JSON.stringify(inputs, null, 2) + '\n');
    try {
      await rename(tmpDir, finalDir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw wrapError(`installing the shim into ${finalDir}`, err);
      // Another process finished the same build first (its result is identical), or a
      // damaged directory is in the way: keep a valid one, replace anything else.
      const valid = await readFile(out).then((b) => { checkShimBinary(b, out); return true; }).catch(() => false);
      if (!valid) {
        await rm(finalDir, { recursive: true, force: true });
        await rename(tmpDir, finalDir).catch((e) => { throw wrapError(`installing the shim into ${finalDir}`, e); });
      }
    }
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
  await checkShimBinary(await readFile(out), out);
  return out;
}
