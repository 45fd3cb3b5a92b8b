// The translation census replay (bench/tb-census/analyze.ts) on a hand-written
// census: mappings replaced, cut and inherited across fork; blocks classified;
// hits of the simulated caches only where an earlier process image (or, for the
// "at once" cache, an earlier block) translated the same key.
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { replayCensus, replayCensusFile } from '../bench/tb-census/analyze.ts';

const LIB = 'fe00:10:5000:1.0 /usr/lib/libc.so.6';
const census = [
  '100 1 X',
  '100 2 M 40000000 00003000 5 12 0 ' + LIB,
  '100 3 A 50000000 00001000 7 22',
  '100 4 T 40000100 0 0 480 16 4 1000 4d 0 200 150', // cacheable, first (200 bytes of host code, 150 ns registering it)
  '100 5 T 40000100 0 0 480 16 4 1000 4d 0', // same key again in the same image
  '100 6 T 50000010 0 0 480 8 2 500 4f 0', // anonymous memory
  '100 7 T 40000200 0 0 480 8 2 700 4d 1', // host pointer
  '100 8 T 40002ff8 0 0 480 16 4 300 4d 0', // leaves the mapping
  '100 9 U 40001000 00001000',
  '100 10 T 40001010 0 0 480 8 2 400 4d 0', // unmapped now: anonymous
  '100 10 E',
  '100 10 E', // a failed exec, then the exit
  '101 11 F 100', // a fork inherits the table as it is now
  '101 12 T 40000100 0 0 480 16 4 1000 4d 0', // hit for both caches: image 100 ended at 10
  '102 13 X',
  '102 14 M 40010000 00003000 5 12 0 ' + LIB, // the same file elsewhere
  '102 15 T 40010100 0 0 480 16 4 1000 4d 0 100', // same file offset, other address
  '102 16 T 40010400 0 0 480 16 4 1000 5d 0', // page once writable (PAGE_WRITE_ORG)
].join('\n');

test('census replay: classification, inherited mappings, simulated caches', async (t) => {
  const sum = await replayCensus(() => census.split('\n'));
  t.is(sum.processes, 3);
  t.is(sum.ended, 1);
  t.deepEqual([sum.all.count, sum.cacheable.count], [9, 4]);
  t.deepEqual(Object.fromEntries(Object.entries(sum.uncacheable).map(([k, v]) => [k, v.count])), {
    'anonymous memory': 2, 'page once writable': 1, 'host pointer in the code': 1, 'block leaves its mapping': 1,
  });
  const [atOnce, atExit, anyAddr, anyAddrAtExit] = sum.sims;
  t.deepEqual([atOnce!.count, atOnce!.ns], [2, 2000]); // the repeat in image 100, the fork's block
  t.is(atExit!.count, 1); // only the fork's block: image 100 had ended (its last line) before it
  t.is(anyAddr!.count, 3); // and image 102's block at the same file offset
  t.is(anyAddrAtExit!.count, 2);
  t.is(sum.byFile.get('/usr/lib/libc.so.6'), 1000 * 5 + 700 + 300);
  t.is(sum.distinctHostBytes, 300); // the first of each address key
  t.is(sum.registerNs, 150);
});

test('census replay of a file reads it in time order (processes write their lines late)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'xb-census-test-'));
  try {
    const lines = census.split('\n');
    const file = join(dir, 'census.log');
    await writeFile(file, `${[...lines.slice(12), ...lines.slice(0, 12)].join('\n')}\n`); // image 102 flushed first
    const sum = await replayCensusFile(file);
    t.deepEqual([sum.processes, sum.cacheable.count, sum.sims[1]!.count, sum.sims[3]!.count], [3, 4, 1, 2]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
