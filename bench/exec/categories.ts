// Buckets of `perf report --sort dso,sym` lines for the exec and configure profiles
// (bench/exec/profile.ts, bench/configure/run.ts --profile): which part of an
// emulated workload a sample belongs to, by DSO and QEMU/glibc symbol names.
import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { RunResult } from '../../test/helpers/guest.ts';

const run = promisify(execFile);
export const CATEGORIES = [
  { id: 'kernel', label: 'kernel (exec, mmap/munmap, page faults, fork, syscalls)' },
  { id: 'jit', label: 'translated guest code ([JIT] maps: guest execution)' },
  { id: 'translate', label: 'translation (ARM front end, TCG optimiser, liveness, x86 back end)' },
  { id: 'cache', label: 'translation cache (store lookup, checks, copy, relocation, writes)' },
  { id: 'lookup', label: 'TB lookup + execution loop + helpers' },
  { id: 'tables', label: 'TB hash table set-up and inserts (qht)' },
  { id: 'mmap', label: 'guest memory map tracking (interval tree, page flags)' },
  { id: 'libc', label: 'glibc in the emulator (malloc, memset, fork, ...)' },
  { id: 'glib', label: 'glib (hash tables, arrays)' },
  { id: 'other', label: 'other emulator code (start-up, syscalls, loader, unresolved)' },
] as const;

const RULES: Array<[string, RegExp]> = [
  ['cache', /^(tb_cache_|tbc_)/],
  ['tables', /^qht_(map_create|insert|grow|do_resize|init)|^qht_map_/],
  ['lookup', /^(cpu_exec|cpu_loop|helper_|qht_lookup|tb_lookup|tb_htable|tb_tc_cmp|tb_cmp|cpu_get_tb|cpu_tb_exec|page_get_flags|tcg_qemu_tb_exec|cpu_handle_)/],
  ['translate', /^(tcg_|liveness_|la_|tb_gen_code|translator_|gen_|disas_|arm_tr_|thumb_tr_|aarch64_tr_|init_ts_info|reset_ts|opcode_args_ct|reachable_code_pass|temp_|fold_|finish_folding|finish_bb|finish_ebb|copy_propagate|do_constant_folding|init_call_layout|tb_target_|setup_jmp|encode_search|arm_gen_|vfp_|neon_|trans_|op_|store_reg|load_reg|arm_test_cc|disas|decode_|tgen_)/],
  ['mmap', /^(interval_tree_|page_set_flags|pageflags_|target_mmap|target_munmap|target_mprotect|mmap_|page_check_range|q_tree_|g_tree_)/],
  ['libc', /^(_int_|malloc|free|calloc|realloc|cfree|__mem|__str|_Fork|__libc|__malloc|__clone|__GI_|_IO_|__pthread|pthread_|__clock|__mmap|__mprotect|__munmap|syscall$|__readlink|__access|_dl_|__tunable|__sysconf|unlink_chunk|tcache_|sysmalloc|handle_amd|intel_check|init_cacheinfo|__init_cpu_features|_start)/],
  ['glib', /^g_/],
];

/** Percent of samples per category id from `perf report -q --sort dso,sym -g none` output. */
export function categorize(report: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of report.split('\n')) {
    const m = /^\s*([\d.]+)%\s+(\S.*?)\s+\[([k.])\]\s+(\S+)/.exec(line);
    if (!m) continue;
    const [, pct, dso, kind, sym] = m;
    let cat = 'other';
    if (kind === 'k' || dso!.includes('kernel')) cat = 'kernel';
    else if (dso!.startsWith('[JIT]')) cat = 'jit';
    else for (const [c, re] of RULES) if (re.test(sym!)) { cat = c; break; }
    out[cat] = (out[cat] ?? 0) + Number(pct);
  }
  return out;
}

/**
 * Runs the workload once under `perf record` (children included): `go(prefix)`
 * must run it with `prefix` in front of its host command. Returns the share of
 * samples per category, symbols resolved inside `root` (the guest tree the
 * emulator runs from), or why the recorded run failed.
 * XBUILD_PROFILE_REPORT=file keeps perf's whole report there.
 */
export async function recordCategories(go: (prefix: string[]) => Promise<RunResult>, o: { root: string; hz?: number }): Promise<Record<string, number> | string> {
  const data = join(tmpdir(), `xb-perf-${process.pid}-${Date.now()}.data`);
  try {
    const rec = await go(['perf', 'record', '-q', '-o', data, '-F', String(o.hz ?? 4999), '--']);
    if (rec.code !== 0) return `perf record of the run failed (perf or the workload): exit ${rec.code ?? rec.signal}: ${rec.stderr.trim().slice(0, 300)}`;
    const { stdout } = await run('perf', ['report', '-i', data, `--symfs=${o.root}`, '--kallsyms=/proc/kallsyms', '--no-children', '--sort', 'dso,sym', '-q', '-g', 'none', '--percent-limit', '0'], { maxBuffer: 1 << 28 });
    if (process.env.XBUILD_PROFILE_REPORT) await writeFile(process.env.XBUILD_PROFILE_REPORT, stdout);
    return categorize(stdout);
  } finally {
    await rm(data, { force: true });
  }
}

/** The category table, one line each, and what perf's report did not list (its rows sum below 100%). */
export function printCategories(shares: Record<string, number>): void {
  for (const c of CATEGORIES) console.log(`  ${c.label.padEnd(70)}${(shares[c.id] ?? 0).toFixed(1).padStart(6)}%`);
  const listed = Object.values(shares).reduce((a, b) => a + b, 0);
  console.log(`  ${'(samples perf did not list by symbol)'.padEnd(70)}${(100 - listed).toFixed(1).padStart(6)}%`);
}
