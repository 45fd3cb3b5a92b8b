// `xbuild qemu build`: source -> patched tree -> static linux-user emulators in the cache.
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { XbuildError, wrapError } from '../errors.ts';
import { noProgress, type OnProgress } from '../progress.ts';
import { BUILD_LOG, BUILD_RECORD, qemuCacheDir, readBuildRecord, type BuildRecord } from './cache.ts';
import { cacheRoot, type Env } from '../cache-root.ts';
import { emulatorFileName } from '../contract/in-image.ts';
import { QEMU_ARCHES, type QemuArch } from '../oci/platform.ts';
import { CONFIGURE_FLAGS, ninjaTargets, STRIP, targetList } from './build-options.ts';
import { checkEmulator } from './elf-check.ts';
import { fetchPinnedTarball, type FetchLike, type PinnedTarball } from './download.ts';
import { buildKey, type EmulatorBuildOptions } from './key.ts';
import { describePlan, planProfile, profileUse } from './pgo.ts';
import { runStep } from './run-step.ts';
import { readSeries } from './series.ts';
import { detectSource, type QemuSource } from './source.ts';

export interface BuildOptions {
  env: Env;
  /** --source: tree, tarball, Debian .orig/.dsc/unpacked source; default: the pinned upstream tarball */
  source?: string;
  targets?: QemuArch[];
  /** --out: also copy the emulators here */
  out?: string;
  patchesDir?: string;
  onProgress?: OnProgress;
  jobs?: number;
  /** python for QEMU's configure (one with Debian's meson); default /usr/bin/python3 */
  python?: string;
  fetchImpl?: FetchLike;
  pin?: PinnedTarball;
  /** A training build (bench/pgo/train.ts): gcc instrumentation, never the profile. */
  instrument?: boolean;
  /** Compile with the series' gcc profile when it fits (default); false builds without it. */
  profile?: boolean;
}

export interface BuildResult {
  dir: string;
  key: string;
  cached: boolean;
  record: BuildRecord;
  emulators: Partial<Record<QemuArch, string>>;
  copiedTo?: string;
}

export function parseTargets(list: string): QemuArch[] {
  const out: QemuArch[] = [];
  for (const t of list.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(QEMU_ARCHES as readonly string[]).includes(t)) {
      throw new XbuildError('USAGE', `--targets: unknown target '${t}' (supported: ${QEMU_ARCHES.join(', ')})`);
    }
    if (!out.includes(t as QemuArch)) out.push(t as QemuArch);
  }
  if (out.length === 0) throw new XbuildError('USAGE', '--targets: empty list');
  return out;
}

export async function buildEmulators(o: BuildOptions): Promise<BuildResult> {
  const progress = o.onProgress ?? noProgress;
  const targets = [...(o.targets ?? QEMU_ARCHES)].sort();
  const series = await readSeries(o.patchesDir);
  const base = qemuCacheDir(o.env);

  let source: QemuSource;
  if (o.source) {
    source = await detectSource(o.source);
  } else {
    progress({ kind: 'step', message: 'fetching the pinned QEMU tarball' });
    const file = await fetchPinnedTarball(join(cacheRoot(o.env), 'downloads'), { pin: o.pin, fetchImpl: o.fetchImpl, onProgress: progress });
    source = await detectSource(file);
  }
  const env = { ...o.env, LC_ALL: 'C' };
  const compiler = await firstLine('cc', ['--version'], env);
  const plan = await planProfile(o, series.dir, { qemuVersion: source.version, sourceSha256: source.sha256, seriesHash: series.hash, configure: CONFIGURE_FLAGS, compiler });
  const buildOptions: EmulatorBuildOptions = {
    configure: [...CONFIGURE_FLAGS, ...plan.configure], strip: STRIP,
    ...(plan.profile ? { profileSha256: plan.profile.manifest.archiveSha256 } : {}),
  };
  const key = buildKey({ qemuVersion: source.version, sourceSha256: source.sha256, seriesHash: series.hash, targets, buildOptions });
  const dir = join(base, key);

  const existing = await cachedEntry(dir, key, targets);
  if (existing) {
    progress({ kind: 'log', message: `using cached build ${dir}` });
    return finish({ dir, key, cached: true, record: existing, emulators: emulatorPaths(dir, targets) }, o.out);
  }

  const started = Date.now();
  const work = join(base, `.tmp-${key}-${randomBytes(4).toString('hex')}`);
  const logDir = join(base, 'logs');
  const log = join(logDir, `${key}.log`);
  await mkdir(work, { recursive: true });
  await mkdir(logDir, { recursive: true });
  await writeFile(log, `xbuild qemu build ${new Date().toISOString()}\nsource: ${source.kind} ${source.path} (QEMU ${source.version}, sha256 ${source.sha256})\nseries: ${series.hash}\ntargets: ${targets.join(',')}\n`);
  progress({ kind: 'log', message: describePlan(plan) });
  try {
    const src = await unpack(source, work, log, env, progress);
    progress({ kind: 'step', message: `applying ${series.patches.length} patches` });
    for (const p of series.patches) {
      await runStep(`applying ${p.name}`, 'patch', ['-p1', '--fuzz=0', '--forward', '--batch', '-i', join(series.dir, p.name)], { cwd: src, env, log, code: 'QEMU_SOURCE' });
    }
    const bdir = join(work, 'build');
    await mkdir(bdir);
    const python = o.python ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
    progress({ kind: 'step', message: `configuring QEMU ${source.version} (${targetList(targets)})` });
    await runStep('configure', join(src, 'configure'), [`--python=${python}`, ...buildOptions.configure, `--target-list=${targetList(targets)}`], { cwd: bdir, env, log, code: 'QEMU_BUILD' });
    if (plan.profile) await runStep('unpacking the gcc profile', 'tar', ['-xJf', plan.profile.archive, '-C', bdir], { cwd: bdir, env, log, code: 'QEMU_BUILD' });
    progress({ kind: 'step', message: `compiling ${ninjaTargets(targets).join(', ')}` });
    const jobs = o.jobs ?? availableParallelism();
    await runStep('ninja', 'ninja', ['-j', String(jobs), ...ninjaTargets(targets)], {
      cwd: bdir, env, log, code: 'QEMU_BUILD',
      onLine: (l) => {
        const m = /^\[(\d+)\/(\d+)\]/.exec(l);
        if (m) progress({ kind: 'bytes', id: 'ninja', label: 'compiling', done: Number(m[1]), total: Number(m[2]), unit: 'steps' });
      },
    });
    const out = join(work, 'out');
    await mkdir(out);
    const outputs: BuildRecord['outputs'] = {};
    for (const t of targets) {
      const f = join(out, emulatorFileName(t));
      await copyFile(join(bdir, `qemu-${t}`), f);
      if (buildOptions.strip) await runStep(`strip ${emulatorFileName(t)}`, 'strip', [f], { cwd: out, env, log, code: 'QEMU_BUILD' });
      await chmod(f, 0o755);
      await checkEmulator(f, { seriesVersion: series.version, qemuVersion: source.version });
      const bytes = await readFile(f);
      outputs[emulatorFileName(t)] = { sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
    }
    const record: BuildRecord = {
      schema: 1, key, builtAt: new Date().toISOString(), buildSeconds: Math.round((Date.now() - started) / 1000),
      qemu: { version: source.version, source: { kind: source.kind, path: source.path, sha256: source.sha256 } },
      series: { version: series.version, hash: series.hash, patches: series.patches.map((p) => ({ name: p.name, sha256: p.sha256 })) },
      targets, buildOptions, profile: profileUse(plan, await readFile(log, 'utf8'), bdir), toolchain: await toolchain(env, compiler), outputs,
    };
    await writeFile(join(out, BUILD_RECORD), `${JSON.stringify(record, null, 2)}\n`);
    await copyFile(log, join(out, BUILD_LOG));
    try {
      await rename(out, dir);
    } catch (err) {
      // another build of the same key finished first: keep that one
      if (!(await cachedEntry(dir, key, targets))) throw wrapError(`storing the build in ${dir}`, err);
    }
    progress({ kind: 'done', id: 'qemu-build', label: `QEMU ${source.version} emulators`, note: dir });
    return finish({ dir, key, cached: false, record: (await readBuildRecord(dir)) ?? record, emulators: emulatorPaths(dir, targets) }, o.out);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function cachedEntry(dir: string, key: string, targets: QemuArch[]): Promise<BuildRecord | undefined> {
  const rec = await readBuildRecord(dir);
  if (!rec || rec.key !== key) return undefined;
  for (const t of targets) if (!rec.outputs[emulatorFileName(t)] || !existsSync(join(dir, emulatorFileName(t)))) return undefined;
  return rec;
}

function emulatorPaths(dir: string, targets: QemuArch[]): Partial<Record<QemuArch, string>> {
  return Object.fromEntries(targets.map((t) => [t, join(dir, emulatorFileName(t))]));
}

async function finish(r: BuildResult, out?: string): Promise<BuildResult> {
  if (!out) return r;
  await mkdir(out, { recursive: true });
  for (const p of Object.values(r.emulators)) {
    if (!p) continue;
    const dest = join(out, p.slice(p.lastIndexOf('/') + 1));
    await copyFile(p, `${dest}.tmp`);
    await chmod(`${dest}.tmp`, 0o755);
    await rename(`${dest}.tmp`, dest);
  }
  return { ...r, copiedTo: out };
}

async function unpack(source: QemuSource, work: string, log: string, env: Env, progress: OnProgress): Promise<string> {
  const src = join(work, 'src');
  if (source.kind === 'tree' || source.kind === 'debian-tree') {
    progress({ kind: 'step', message: `copying ${source.path}` });
    await runStep('copying the source tree', 'cp', ['-a', `${source.path}/.`, src], { cwd: work, env, log, code: 'QEMU_SOURCE' });
  } else {
    progress({ kind: 'step', message: `unpacking ${source.path}` });
    const tmp = join(work, 'unpack');
    await mkdir(tmp);
    await runStep('unpacking', 'tar', ['-xf', source.path, '-C', tmp], { cwd: work, env, log, code: 'QEMU_SOURCE' });
    const top = await readdir(tmp);
    if (top.length !== 1) throw new XbuildError('QEMU_SOURCE', `${source.path}: expected one top-level directory, found ${top.length}`);
    await rename(join(tmp, top[0]!), src);
  }
  const version = (await readFile(join(src, 'VERSION'), 'utf8').catch(() => '')).trim();
  if (version !== source.version) {
    throw new XbuildError('QEMU_SOURCE', `${source.path}: VERSION says '${version}', expected ${source.version}`);
  }
  return src;
}

/** The build record's toolchain; `cc` was already asked (the profile's fit depends on it). */
async function toolchain(env: Env, cc: string): Promise<Record<string, string>> {
  return { cc, meson: await firstLine('meson', ['--version'], env), ninja: await firstLine('ninja', ['--version'], env) };
}

/** First line of a tool's output ('unknown' when it cannot run): what the build record shows of the toolchain. */
async function firstLine(cmd: string, args: string[], env: Env): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(cmd, args, { env: env as NodeJS.ProcessEnv });
    return stdout.split('\n')[0]!.trim();
  } catch {
    return 'unknown';
  }
}
