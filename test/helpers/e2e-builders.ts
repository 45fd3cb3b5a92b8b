// The end-to-end scaffold shared by test/e2e-builders-*.test.ts: a loopback
// registry, Debian's dockerd (legacy builder + BuildKit), buildah (chroot
// isolation), a copy of base-images/ as build context, and the built CLI.
// Every step names itself when it fails.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertNoArmBinfmt } from './binfmt.ts';
import { startDockerd, type Dockerd } from './dockerd.ts';
import { startBuildah, type Buildah } from './buildah.ts';
import { startE2eRegistry, type E2eRegistry } from './e2e-registry.ts';
import { pushLayout } from './e2e-fixtures.ts';
import { run, runOk, step, type RunResult } from './e2e-exec.ts';

export const ROOT = new URL('../..', import.meta.url).pathname;
export type BuilderName = 'buildah' | 'docker-legacy' | 'buildkit';
export const BUILDERS: BuilderName[] = ['buildah', 'docker-legacy', 'buildkit'];

export interface E2e {
  registry: E2eRegistry;
  dockerd: Dockerd;
  buildah: Buildah;
  /** a copy of base-images/ with the autoconf demo's ./configure generated */
  context: string;
  xbuild(args: string[]): Promise<RunResult>;
  stop(): Promise<void>;
}

export async function startE2e(): Promise<E2e> {
  await step('asserting no ARM binfmt_misc handler on the host', assertNoArmBinfmt);
  await runOk('bundling the CLI (node scripts/build.mjs)', process.execPath, [join(ROOT, 'scripts/build.mjs')], { cwd: ROOT });
  const parts: { stop(): Promise<void> }[] = [];
  const stopAll = async () => { for (const p of parts.reverse()) await p.stop().catch(() => undefined); };
  try {
    const registry = await step('starting the test registry', startE2eRegistry);
    parts.push(registry);
    const dockerd = await step('starting dockerd', () => startDockerd());
    parts.push(dockerd);
    const buildah = await step('preparing buildah', startBuildah);
    parts.push({ stop: buildah.cleanup });
    const context = await mkdtemp(join(tmpdir(), 'xb-context-'));
    parts.push({ stop: () => rm(context, { recursive: true, force: true }) });
    await step('copying base-images/ as build context', () => cp(join(ROOT, 'base-images'), context, { recursive: true }));
    await runOk('generating ./configure of the autoconf demo (autoconf)', 'autoconf', [], { cwd: join(context, 'common/autoconf-demo') });
    const xbuild = (args: string[]) => run(process.execPath, [join(ROOT, 'bin/xbuild.mjs'), ...args], { cwd: ROOT, timeoutMs: 15 * 60_000 });
    return { registry, dockerd, buildah, context, xbuild, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** Pushes a fixture layout to the registry and wraps it there; returns the wrapped reference. */
export async function pushAndWrap(e: E2e, layoutParent: string, name: string): Promise<string> {
  const base = `${e.registry.host}/fixtures/${name}:base`;
  const wrapped = `${e.registry.host}/fixtures/${name}:xbuild`;
  await step(`pushing fixture ${name}`, () => pushLayout(layoutParent, name, base));
  // XBUILD_QEMU_DIR (as for scripts/fixtures/*.sh and test/helpers/emulators.ts)
  // overrides the emulator cache, through wrap's documented --qemu-dir.
  const qemuDir = process.env.XBUILD_QEMU_DIR ? ['--qemu-dir', process.env.XBUILD_QEMU_DIR] : [];
  const r = await e.xbuild(['wrap', base, '-t', wrapped, '--quiet', ...qemuDir]);
  if (r.code !== 0) throw new Error(`xbuild wrap ${base} -t ${wrapped} exited ${r.code}: ${(r.stderr || r.stdout).trim()}`);
  return wrapped;
}

export interface BuildRequest {
  dockerfile: string; // relative to the context (base-images/)
  base: string;
  platform: string;
  tag: string;
}

export interface BuildResult { output: string; buildMs: number; pushMs: number }

/** Builds with one builder and pushes; throws naming the builder and the step on failure. */
export async function buildAndPush(e: E2e, builder: BuilderName, req: BuildRequest): Promise<BuildResult> {
  const common = ['-f', join(e.context, req.dockerfile), '--platform', req.platform, '--build-arg', `BASE=${req.base}`, '-t', req.tag];
  let b: RunResult;
  let p: RunResult;
  const limit = { timeoutMs: 40 * 60_000 };
  if (builder === 'buildah') {
    b = await e.buildah.bud(e.context, common, limit);
  } else {
    const env = { DOCKER_BUILDKIT: builder === 'buildkit' ? '1' : '0' };
    const extra = builder === 'buildkit' ? ['--progress=plain'] : [];
    b = await e.dockerd.docker(['build', '--network=host', ...extra, ...common, e.context], { ...limit, env });
  }
  const output = `${b.stdout}\n${b.stderr}`;
  if (b.code !== 0) {
    throw new Error(`${builder}: building ${req.dockerfile} on ${req.base} exited ${b.code}:\n${output.trimEnd().split('\n').slice(-30).join('\n')}`);
  }
  if (builder === 'buildah') p = await e.buildah.push(req.tag);
  else p = await e.dockerd.docker(['push', req.tag]);
  if (p.code !== 0) throw new Error(`${builder}: pushing ${req.tag} exited ${p.code}: ${p.stderr.trim()}`);
  return { output, buildMs: b.ms, pushMs: p.ms };
}

/**
 * The `XB key=value` lines a build printed from inside its RUN steps. Lines
 * that echo the Dockerfile instruction itself (which contain "RUN") are
 * ignored, so only what a program printed counts.
 */
export function markers(output: string): Record<string, string> {
  const found: Record<string, string> = {};
  for (const line of output.split('\n')) {
    if (/\bRUN\b/.test(line)) continue;
    const m = /\bXB ([\w-]+)=(.*?)\s*$/.exec(line);
    if (m) found[m[1]!] = m[2]!;
  }
  return found;
}

/** Runs `xbuild verify REF`; returns its result (exit 0 = passes). */
export function verify(e: E2e, ref: string): Promise<RunResult> {
  return e.xbuild(['verify', ref]);
}
