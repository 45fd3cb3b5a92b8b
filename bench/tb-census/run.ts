// bench/tb-census/run.ts: one census run of a workload (bench:configure --census,
// bench:exec --census): the workload under `perf stat` (the CPU time of all its
// processes) with the census emulator logging inside the guest tree, then the
// replay (analyze.ts) and translation's share of that CPU time.
import { copyFile, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { RunResult } from '../../test/helpers/guest.ts';
import { replayCensusFile, report } from './analyze.ts';
import { loadAverages } from '../load-average.ts';

/** Where census emulators log, inside the guest tree. */
const LOG_IN_ROOT = '/var/tmp/xb-census.log';

/**
 * Runs the workload once: `go(prefix, env)` must run it with `prefix` (perf stat)
 * in front of its host command and `env` in the guest's environment.
 * XBUILD_CENSUS_KEEP=file keeps the census log. XBUILD_CENSUS_CONTROL=1 first runs
 * the same workload and emulator with the census off (the census's own logging
 * costs CPU time too), and sets translation's time against that run's CPU time.
 */
export async function runCensus(label: string, root: string, go: (prefix: string[], env: Record<string, string>) => Promise<RunResult>): Promise<void> {
  const timed = async (env: Record<string, string>, what: string): Promise<number> => {
    const stat = join(tmpdir(), `xb-census-stat-${process.pid}.csv`);
    const load0 = loadAverages();
    const t0 = performance.now();
    const res = await go(['perf', 'stat', '-x', ',', '-o', stat, '-e', 'task-clock', '--'], env);
    const s = (performance.now() - t0) / 1000;
    if (res.code !== 0) throw new Error(`${what}: exit ${res.code ?? res.signal}: ${`${res.stdout}\n${res.stderr}`.trim().slice(-1500)}`);
    const cpuMs = Number(/^([\d.]+),msec,task-clock/m.exec(await readFile(stat, 'utf8').finally(() => rm(stat, { force: true })))?.[1]);
    console.log(`${what}: ${s.toFixed(1)} s, CPU time of all its processes (perf stat task-clock) ${(cpuMs / 1000).toFixed(1)} s, load ${load0} at start, ${loadAverages()} at end`);
    return cpuMs;
  };
  console.log(`${label}\n`);
  const controlMs = process.env.XBUILD_CENSUS_CONTROL ? await timed({}, 'control run, census off') : undefined;
  const cpuMs = await timed({ XBUILD_TB_CENSUS: LOG_IN_ROOT }, 'census run');
  const log = join(root, LOG_IN_ROOT);
  if (process.env.XBUILD_CENSUS_KEEP) await copyFile(log, process.env.XBUILD_CENSUS_KEEP);
  const sum = await replayCensusFile(log);
  console.log(`\n${report(sum)}\n`);
  const share = (ms: number) => `${((sum.all.ns / 1e6 / ms) * 100).toFixed(1)}%`;
  console.log(`tb_gen_code (translation, with what it calls and the page faults it takes): ${(sum.all.ns / 1e9).toFixed(1)} s = ${share(cpuMs)} of the census run's CPU time${controlMs ? `, ${share(controlMs)} of the control run's` : ''}`);
}
