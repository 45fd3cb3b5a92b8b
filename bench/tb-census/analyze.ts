// bench/tb-census/analyze.ts: replays a translation census (the log a census
// emulator writes, bench/tb-census/census.patch) against simulated persistent
// translation caches, and prints how much of the run's translation work each
// would have removed. The census is the measurement the cache's design needs:
// which translated blocks could be keyed by (file, offset, guest address, CPU
// flags) at all, and how many of them an earlier process had already translated.
//   npx tsx bench/tb-census/analyze.ts <census.log>
// Census lines are "<pid> <CLOCK_MONOTONIC ns> <event> <fields>", numbers in hex
// where they are guest addresses, sizes of mappings, offsets and flags:
//   X                      a fresh emulator in this pid (after exec)
//   F <ppid>               a fork of <ppid>'s emulator (its mappings inherited)
//   M start len prot flags offset dev:ino:size:mtime path    a file mapping
//   A start len prot flags an anonymous mapping     U start len   an munmap
//   R old oldlen new newlen                         an mremap (the new range is
//                                                   treated as anonymous)
//   T pc flags cflags cs_base guest-bytes insns ns page-flags host-pointer
//     [host-bytes register-ns]                      one tb_gen_code call (decimal
//                                                   sizes, ns and counts)
//   E                      the image ends (exit, fatal signal, exec attempt)
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { createInterface } from 'node:readline';

/** One guest mapping of a process: [start, end), backed by a file at `offset` or anonymous. */
interface Mapping { start: number; end: number; file?: { id: string; path: string; offset: number } }

type Uncacheable = 'anonymous memory' | 'page once writable' | 'host pointer in the code' | 'block leaves its mapping';

const PAGE_WRITE_ORG = 0x10;

/** `table` with [start, end) removed (mappings cut at the edges). */
function cut(table: Mapping[], start: number, end: number): Mapping[] {
  const out: Mapping[] = [];
  for (const m of table) {
    if (m.end <= start || m.start >= end) { out.push(m); continue; }
    if (m.start < start) out.push({ ...m, end: start });
    if (m.end > end) {
      const skip = end - m.start;
      out.push({ start: end, end: m.end, file: m.file && { ...m.file, offset: m.file.offset + skip } });
    }
  }
  return out;
}

function place(table: Mapping[], m: Mapping): Mapping[] {
  return [...cut(table, m.start, m.end), m].sort((a, b) => a.start - b.start);
}

export interface Tally { count: number; ns: number }
export interface CensusSummary {
  processes: number;
  /** images whose end (exit, fatal signal, exec) was logged: the others may have lost lines */
  ended: number;
  all: Tally;
  uncacheable: Record<Uncacheable, Tally>;
  cacheable: Tally;
  /** hits of the simulated caches (see replayCensus) */
  sims: Array<{ label: string } & Tally>;
  /** translation time by mapped file ('(anonymous)' for the rest) */
  byFile: Map<string, number>;
  /** host code bytes of the distinct cacheable blocks (first of each address key), when the census logs them */
  distinctHostBytes: number;
  /** the part of tb_gen_code that registers a block (region tree, page tracking, qht), when logged: a loaded block pays it too */
  registerNs: number;
}

export const UNCACHEABLE: readonly Uncacheable[] = ['anonymous memory', 'page once writable', 'host pointer in the code', 'block leaves its mapping'];
const KEYINGS = [['keyed by file, offset, guest address, flags', true], ['keyed by file, offset, flags (any address)', false]] as const;
const hex = (s: string) => parseInt(s, 16);
const run = promisify(execFile);

/** Pass 1: when each process image (X or F line, numbered in order) logged its last line; how many logged their end (E). */
async function epochEnds(lines: AsyncIterable<string> | Iterable<string>): Promise<{ end: number[]; ended: number }> {
  const epochOf = new Map<number, number>();
  const end: number[] = [];
  const ended = new Set<number>(); // an image logs E more than once when an exec fails (a PATH search)
  for await (const line of lines) {
    const sp1 = line.indexOf(' '), sp2 = line.indexOf(' ', sp1 + 1);
    if (sp2 < 0) continue;
    const pid = Number(line.slice(0, sp1)), ts = Number(line.slice(sp1 + 1, sp2)), ev = line[sp2 + 1];
    if (ev === 'X' || ev === 'F') { epochOf.set(pid, end.length); end.push(ts); continue; }
    const e = epochOf.get(pid);
    if (e !== undefined) { end[e] = ts; if (ev === 'E') ended.add(e); }
  }
  return { end, ended: ended.size };
}

/**
 * Replays a census (read twice through `lines`): each block classified, and two
 * caches per keying simulated: "stored at once" keeps each block as soon as it is
 * translated (the best case); "stored at process end" keeps a process image's
 * blocks when the image ends (exec or exit), as a cache written once per process.
 */
export async function replayCensus(lines: () => AsyncIterable<string> | Iterable<string>): Promise<CensusSummary> {
  const { end: epochEnd, ended } = await epochEnds(lines());
  const order = [...epochEnd.keys()].sort((a, b) => epochEnd[a]! - epochEnd[b]!);
  const tables = new Map<number, Mapping[]>();
  const epochOf = new Map<number, number>();
  const files = new Map<string, number>();
  const tally = (): Tally => ({ count: 0, ns: 0 });
  const add = (t: Tally, ns: number) => { t.count++; t.ns += ns; };
  const sum: CensusSummary = {
    processes: epochEnd.length, ended, all: tally(), cacheable: tally(), byFile: new Map(), distinctHostBytes: 0, registerNs: 0,
    uncacheable: Object.fromEntries(UNCACHEABLE.map((u) => [u, tally()])) as Record<Uncacheable, Tally>,
    sims: KEYINGS.flatMap(([label]) => [{ label: `${label}, stored at once`, ...tally() }, { label: `${label}, stored at process end`, ...tally() }]),
  };
  const atOnce = KEYINGS.map(() => new Set<string>());
  const atExit = KEYINGS.map(() => new Set<string>());
  const pending = new Map<number, string[][]>();
  let next = 0, epochs = 0;
  for await (const line of lines()) {
    const f = line.split(' ');
    if (f.length < 3) continue;
    const pid = Number(f[0]), ts = Number(f[1]), ev = f[2];
    if (ev === 'X' || ev === 'F') {
      tables.set(pid, ev === 'F' ? [...(tables.get(Number(f[3])) ?? [])] : []);
      epochOf.set(pid, epochs++);
      continue;
    }
    const epoch = epochOf.get(pid);
    if (epoch === undefined) continue; // a process whose start was not logged
    const table = tables.get(pid)!;
    if (ev === 'M') {
      const start = hex(f[3]!);
      tables.set(pid, place(table, { start, end: start + hex(f[4]!), file: { id: f[8]!, path: f.slice(9).join(' ') || '(path unknown: no /proc)', offset: hex(f[7]!) } }));
    } else if (ev === 'A') {
      const start = hex(f[3]!);
      tables.set(pid, place(table, { start, end: start + hex(f[4]!) }));
    } else if (ev === 'U') {
      const start = hex(f[3]!);
      tables.set(pid, cut(table, start, start + hex(f[4]!)));
    } else if (ev === 'R') {
      const from = hex(f[3]!), to = hex(f[5]!);
      tables.set(pid, place(cut(table, from, from + hex(f[4]!)), { start: to, end: to + hex(f[6]!) }));
    } else if (ev === 'T') {
      const pc = hex(f[3]!), size = Number(f[7]), ns = Number(f[9]), pageFlags = hex(f[10]!), hostPtr = f[11] === '1';
      const m = table.find((x) => x.start <= pc && pc < x.end);
      add(sum.all, ns);
      sum.registerNs += Number(f[13] ?? 0);
      const file = m?.file?.path ?? '(anonymous)';
      sum.byFile.set(file, (sum.byFile.get(file) ?? 0) + ns);
      let why: Uncacheable | undefined;
      if (!m?.file) why = 'anonymous memory';
      else if (pc + Math.max(size, 1) > m.end) why = 'block leaves its mapping';
      else if (pageFlags & PAGE_WRITE_ORG) why = 'page once writable';
      else if (hostPtr) why = 'host pointer in the code';
      if (why) { add(sum.uncacheable[why], ns); continue; }
      add(sum.cacheable, ns);
      let fileNo = files.get(m!.file!.id);
      if (fileNo === undefined) files.set(m!.file!.id, fileNo = files.size);
      const where = `${fileNo}@${(m!.file!.offset + pc - m!.start).toString(16)}|${f[4]}|${f[5]}|${f[6]}`;
      const keys = KEYINGS.map(([, withAddr]) => (withAddr ? `${where}|${f[3]}` : where));
      while (next < order.length && epochEnd[order[next]!]! < ts) {
        for (const ks of pending.get(order[next]!) ?? []) ks.forEach((k, i) => atExit[i]!.add(k));
        pending.delete(order[next]!);
        next++;
      }
      keys.forEach((k, i) => {
        if (atOnce[i]!.has(k)) add(sum.sims[2 * i]!, ns);
        else { atOnce[i]!.add(k); if (i === 0) sum.distinctHostBytes += Number(f[12] ?? 0); }
        if (atExit[i]!.has(k)) add(sum.sims[2 * i + 1]!, ns);
      });
      const list = pending.get(epoch) ?? [];
      list.push(keys);
      pending.set(epoch, list);
    }
  }
  return sum;
}

export function report(sum: CensusSummary): string {
  const pct = (ns: number) => `${((ns / sum.all.ns) * 100).toFixed(1).padStart(6)}%`;
  const lines = [`${sum.processes} emulated process images (${sum.ended} logged their end), ${sum.all.count} translated blocks, ${(sum.all.ns / 1e9).toFixed(2)} s in tb_gen_code\n`];
  const row = (label: string, t: Tally) => lines.push(`  ${label.padEnd(66)}${String(t.count).padStart(10)}${(t.ns / 1e9).toFixed(2).padStart(9)} s${pct(t.ns)}`);
  lines.push(`  ${'blocks'.padEnd(66)}${'count'.padStart(10)}${'time'.padStart(11)}${'share'.padStart(7)}`);
  for (const w of UNCACHEABLE) row(`not cacheable: ${w}`, sum.uncacheable[w]);
  row('cacheable (file-backed, never written, no host pointer)', sum.cacheable);
  lines.push('\n  translation a persistent cache would have skipped (hits):');
  for (const s of sum.sims) row(s.label, s);
  if (sum.registerNs) lines.push(`\n  of tb_gen_code's time, registering the block (region tree, page tracking, qht; a cached block pays it too): ${(sum.registerNs / 1e9).toFixed(2)} s = ${((sum.registerNs / sum.all.ns) * 100).toFixed(1)}%`);
  if (sum.distinctHostBytes) lines.push(`\n  distinct cacheable blocks: ${sum.cacheable.count - sum.sims[0]!.count}, ${(sum.distinctHostBytes / 2 ** 20).toFixed(1)} MiB of host code (without the search data)`);
  lines.push('\n  translation time by file (top 8):');
  for (const [file, ns] of [...sum.byFile].sort((a, b) => b[1] - a[1]).slice(0, 8)) lines.push(`  ${file.padEnd(66)}${(ns / 1e9).toFixed(2).padStart(19)} s${pct(ns)}`);
  return lines.join('\n');
}

/**
 * The summary of a census file, sorted by time first (processes write their
 * buffered lines at exit, exec and fork, so the file is not in time order) and
 * read as a stream (a configure census is over a gigabyte).
 */
export async function replayCensusFile(file: string): Promise<CensusSummary> {
  const sorted = `${file}.by-time`;
  try {
    await run('sort', ['-n', '-s', '-k2,2', '-S', '25%', '-T', dirname(file), '-o', sorted, file], { env: { ...process.env, LC_ALL: 'C' } });
    return await replayCensus(() => createInterface({ input: createReadStream(sorted), crlfDelay: Infinity }));
  } finally {
    await rm(sorted, { force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (!file) { console.error('usage: analyze.ts <census.log>'); process.exit(2); }
  console.log(report(await replayCensusFile(file)));
}
