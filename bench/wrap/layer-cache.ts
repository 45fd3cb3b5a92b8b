// bench/wrap/layer-cache: wall time of `xbuild wrap` of a small (5 MiB) base
// from an OCI layout to an OCI layout, cold (--no-layer-cache: the xbuild layer
// is tarred and gzipped on every call, as before the layer cache) against warm
// (the layer read back from <cache root>/layers and checked), interleaved,
// median of N, in one run; with the load average. The emulator is xbuild's
// (test/helpers/emulators.ts), the shim the real one.
//   node scripts/build.mjs && npx tsx bench/wrap/layer-cache.ts [--reps 5]
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { cacheRoot } from '../../src/cache-root.ts';
import { findEmulator } from '../../test/helpers/emulators.ts';
import { makeBase } from './make-base.ts';
import { median } from '../median.ts';

const run = promisify(execFile);
const arg = (k: string, d: number) => { const i = process.argv.indexOf(k); return i > 0 ? Number(process.argv[i + 1]) : d; };
const REPS = arg('--reps', 5);
const baseDir = join(cacheRoot(process.env), 'bench', 'wrap', 'base-5-v1');
if (!(await stat('dist/xbuild.mjs').catch(() => undefined))) throw new Error('dist/xbuild.mjs is missing: run node scripts/build.mjs first');
if (!(await stat(join(baseDir, 'index.json')).catch(() => undefined))) await makeBase(baseDir, 5);
const qemuDir = dirname(await findEmulator('arm'));
const out = await mkdtemp(join(tmpdir(), 'xb-bench-wrap-cache-'));

async function wrapOnce(extra: string[], i: number): Promise<{ s: number; digest: string }> {
  const t0 = process.hrtime.bigint();
  const { stdout } = await run(process.execPath, ['dist/xbuild.mjs', 'wrap', `oci:${baseDir}:bench`, '--output', `type=oci,dest=${join(out, `o${i}`)}`, '-t', 'x:1', '--qemu-dir', qemuDir, '--quiet', ...extra],
    { env: { ...process.env, SOURCE_DATE_EPOCH: '0' }, maxBuffer: 1 << 24 });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return { s, digest: stdout.trim().split('@')[1] ?? '' };
}

const load0 = loadavg()[0]!;
const cold: number[] = []; const warm: number[] = []; const digests = new Set<string>();
try {
  await wrapOnce([], 0); // fill the cache (a miss)
  for (let r = 0; r < REPS; r++) {
    const c = await wrapOnce(['--no-layer-cache'], 2 * r + 1); cold.push(c.s); digests.add(c.digest);
    const w = await wrapOnce([], 2 * r + 2); warm.push(w.s); digests.add(w.digest);
  }
} finally {
  await rm(out, { recursive: true, force: true });
}
if (digests.size !== 1) throw new Error(`cold and warm wraps gave different images: ${[...digests].join(' ')}`);
console.log(`xbuild wrap of a 5 MiB linux/arm/v7 base, oci -> oci, ${REPS} interleaved runs, median wall s (node start-up included)`);
console.log(`emulator: ${join(qemuDir, 'qemu-arm-static')}; load average ${load0.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after`);
console.log(`cold (--no-layer-cache)  ${median(cold).toFixed(3)} s   [${cold.map((x) => x.toFixed(2)).join(' ')}]`);
console.log(`warm (layer cache hit)   ${median(warm).toFixed(3)} s   [${warm.map((x) => x.toFixed(2)).join(' ')}]`);
console.log(`warm / cold = ${(median(warm) / median(cold)).toFixed(3)}x; same image digest in every run: ${[...digests][0]}`);
