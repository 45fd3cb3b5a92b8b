// The patch series applies with fuzz 0 to Debian stable's QEMU 10.0.x (trixie)
// as well as to the pinned version from sid (CI's build source). Apply only,
// no build: the files the patches touch are taken from each .orig tarball,
// which scripts/fetch-debian-source.sh fetches from Debian's archive into the
// xbuild cache (keyed by version; a second run asks the network nothing).
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PINNED_QEMU } from '../src/qemu/pinned.ts';
import { readSeries } from '../src/qemu/series.ts';

const run = promisify(execFile);

async function fetchSource(suite: string, upstream: string): Promise<string> {
  const { stdout } = await run('bash', ['scripts/fetch-debian-source.sh', suite, 'qemu', upstream], { maxBuffer: 1 << 24 });
  const dir = stdout.trim().split('\n').pop()!;
  const orig = (await readdir(dir)).find((n) => /^qemu_.*\.orig\.tar\.xz$/.test(n));
  if (!orig) throw new Error(`${dir} holds no qemu_*.orig.tar.xz`);
  return join(dir, orig);
}

/** Paths the series patches (its `--- a/` and `+++ b/` lines), relative to the tree. */
function touchedPaths(texts: string[]): string[] {
  const paths = new Set<string>();
  for (const text of texts) {
    for (const m of text.matchAll(/^(?:---|\+\+\+) [ab]\/(\S+)/gm)) paths.add(m[1]!);
  }
  return [...paths].sort();
}

async function applySeries(orig: string, t: { log: (s: string) => void }, only: (name: string) => boolean = () => true): Promise<string> {
  const series = await readSeries();
  series.patches = series.patches.filter((p) => only(p.name));
  const dir = await mkdtemp(join(tmpdir(), 'xbuild-series-apply-'));
  try {
    const wanted = touchedPaths(series.patches.map((p) => p.text));
    // Files the series adds are not in the tarball: tar's --wildcards list would fail on them, so
    // ask for every wanted path under the tarball's top directory and let missing ones be.
    await run('tar', ['-xJf', orig, '-C', dir, '--strip-components=1', '--wildcards', '--no-wildcards-match-slash',
      ...wanted.map((p) => `*/${p}`)], { maxBuffer: 1 << 24 }).catch((err: { stderr?: string }) => {
      if (!/Not found in archive/.test(err.stderr ?? '')) throw err;
    });
    const out: string[] = [];
    for (const p of series.patches) {
      const r = await run('patch', ['-p1', '--fuzz=0', '--forward', '--batch', '-i', join(series.dir, p.name)], { cwd: dir });
      out.push(`${p.name}: ${r.stdout.trim().split('\n').join('; ')}`);
    }
    t.log(out.join('\n'));
    return out.join('\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// 0030 (the persistent translation cache, series 7) is written for 10.2's
// tb_gen_code(); it is not ported to 10.0 (patches/README.md); 0040
// (-huge-heap, series 8) edits lines 0030 adds, and 0050 (-vfork-wait,
// series 10) lines 0040 adds. 0060 edits 10.1+'s TCGTBCPUState lookups
// (10.0 passes the fields one by one and needs no such change). The rest of
// the series still applies there, and 0030 is seen not to.
const FOR_10_2_ONLY = '0030-tcg-persistent-translation-cache.patch';
const ON_TOP_OF_0030 = ['0040-linux-user-huge-heap.patch', '0050-linux-user-vfork-wait.patch'];
const FOR_10_1_LOOKUP = '0060-tcg-lookup-state-by-reference.patch';
const NOT_ON_10_0 = [FOR_10_2_ONLY, ...ON_TOP_OF_0030, FOR_10_1_LOOKUP];

test("the series but 0030 (and 0040, 0050 on top of it) and 0060 applies with fuzz 0 to Debian trixie's QEMU 10.0.x (Debian stable); 0030 is 10.2-only", async (t) => {
  const orig = await fetchSource('trixie', '10.0');
  t.regex(orig, /qemu_10\.0\.\d+\+ds\.orig\.tar\.xz$/);
  const out = await applySeries(orig, t, (name) => !NOT_ON_10_0.includes(name));
  t.notRegex(out, /fuzz|Hunk.*FAILED/i); // offsets are fine (0006 was written against 10.2)
  await t.throwsAsync(applySeries(orig, t), undefined, `${FOR_10_2_ONLY} unexpectedly applies to 10.0: port it and drop this exception`);
});

test(`the series applies with fuzz 0 to Debian sid's QEMU ${PINNED_QEMU.version} (the pin, CI's source)`, async (t) => {
  const orig = await fetchSource('sid', PINNED_QEMU.version);
  t.true(orig.endsWith(`qemu_${PINNED_QEMU.version}+ds.orig.tar.xz`));
  const out = await applySeries(orig, t);
  t.notRegex(out, /fuzz|Hunk.*FAILED/i);
});
