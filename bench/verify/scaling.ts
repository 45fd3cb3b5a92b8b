// bench/verify scaling rows (issue 17): verify's memory must stay flat as the
// volume of symlink targets grows, and its time must grow linearly with the
// number of entries (opaque markers and whiteouts included).
//   npx tsx bench/verify/scaling.ts
// Each row is one `xbuild verify`-equivalent child (bench/verify/verify-one.ts)
// under /usr/bin/time; images are generated into a temporary directory.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { END, entryBytes, paxEntry } from '../../test/helpers/tar-forge.ts';
import { writeLayout } from '../../test/helpers/umoci-diff.ts';

const run = promisify(execFile);

async function measure(dir: string): Promise<{ seconds: number; rssMiB: number; exit: number }> {
  const args = ['-f', 'XBUILD_TIME %e %M', process.execPath, '--import=tsx', 'bench/verify/verify-one.ts', `oci:${dir}:t`];
  const r = await run('/usr/bin/time', args, { maxBuffer: 1 << 26 }).then((x) => ({ ...x, code: 0 }), (e: { stderr: string; code: number }) => ({ stderr: e.stderr, code: e.code }));
  const m = /XBUILD_TIME ([\d.]+) (\d+)/.exec(r.stderr);
  if (!m) throw new Error(`no /usr/bin/time output: ${r.stderr}`);
  return { seconds: Number(m[1]), rssMiB: Number(m[2]) / 1024, exit: r.code };
}

function symlinkLayer(count: number, targetLen: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const target = `/t${i}/`.padEnd(targetLen, 'x');
    parts.push(targetLen > 100 ? paxEntry([['linkpath', target]]) : Buffer.alloc(0), entryBytes({ name: `links/l${i}`, typeflag: '2', linkname: target.slice(0, 100) }));
  }
  return Buffer.concat([...parts, END]);
}

function entriesLayers(count: number): Buffer[] {
  const lower: Buffer[] = []; const upper: Buffer[] = [];
  for (let i = 0; i < count / 2; i++) lower.push(entryBytes({ name: `d${i % 100}/f${i}`, typeflag: '0', data: Buffer.from('x') }));
  for (let i = 0; i < count / 2; i++) {
    upper.push(entryBytes({ name: `d${i % 100}/g${i}`, typeflag: '0', data: Buffer.from('y') }));
    if (i % 10 === 0) upper.push(entryBytes({ name: i % 20 === 0 ? '.wh..wh..opq' : `d${i % 100}/.wh..wh..opq`, typeflag: '0' }));
  }
  return [Buffer.concat([...lower, END]), Buffer.concat([...upper, END])];
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'xbuild-bench-scaling-'));
  try {
    console.log('| row | input | result | seconds | peak RSS MiB |');
    console.log('| --- | --- | --- | --- | --- |');
    for (const [count, len] of [[2200, 16], [2200, 1024], [2200, 4095], [300, 1_000_000], [100, 2_000_000]] as const) {
      const dir = join(work, `links-${count}-${len}`);
      await writeLayout(dir, { layers: [{ tar: symlinkLayer(count, len) }] });
      const m = await measure(dir);
      console.log(`| link-target volume | ${count} symlinks x ${len} B targets (${((count * len) / 2 ** 20).toFixed(1)} MiB) | ${m.exit === 0 ? 'read' : 'refused (runtime limit)'} | ${m.seconds.toFixed(2)} | ${m.rssMiB.toFixed(0)} |`);
      await rm(dir, { recursive: true, force: true });
    }
    for (const n of [20_000, 80_000, 320_000]) {
      const dir = join(work, `entries-${n}`);
      await writeLayout(dir, { layers: entriesLayers(n).map((tar) => ({ tar })) });
      const m = await measure(dir);
      console.log(`| entries | ${n} files in 2 layers, opaque markers every 10 entries | ${m.exit === 0 ? 'read' : 'refused (runtime limit)'} | ${m.seconds.toFixed(2)} | ${m.rssMiB.toFixed(0)} |`);
      await rm(dir, { recursive: true, force: true });
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
void main();
