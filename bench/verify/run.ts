// bench/verify: time and peak RSS of `verify` on a small and a large (>= 500 MB)
// generated image, and on the large one recompressed to tar+zstd by skopeo, next to `skopeo copy oci:SRC oci:DST` of the same image in
// the same run (both read every layer once; skopeo also writes them), and next to the floor of
// fetch + hash + decompress + tar walk written with standard parts (floor-one.ts). Medians of --reps runs.
//   npx tsx bench/verify/run.ts [--large-mib 520] [--huge-mib N] [--reps 3]   (--huge-mib adds a third, bigger image: RSS should not grow with it)
// Images are generated once into ${XBUILD_CACHE_DIR:-~/.cache/xbuild}/bench/verify/.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat, readdir } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { cacheRoot } from '../../src/cache-root.ts';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeImage } from './make-image.ts';
import { median } from '../median.ts';

const run = promisify(execFile);
const arg = (k: string, d: number) => { const i = process.argv.indexOf(k); return i > 0 ? Number(process.argv[i + 1]) : d; };
const largeMiB = arg('--large-mib', 520);
const hugeMiB = arg('--huge-mib', 0);
const reps = arg('--reps', 3);
const cache = join(cacheRoot(process.env), 'bench', 'verify');

async function timed(cmd: string, args: string[]): Promise<{ seconds: number; rssKiB: number; stdout: string }> {
  const { stdout, stderr } = await run('/usr/bin/time', ['-f', 'XBUILD_TIME %e %M', cmd, ...args], { maxBuffer: 1 << 26 });
  const m = /XBUILD_TIME ([\d.]+) (\d+)/.exec(stderr);
  if (!m) throw new Error(`no /usr/bin/time output: ${stderr}`);
  return { seconds: Number(m[1]), rssKiB: Number(m[2]), stdout };
}

async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for (const f of await readdir(join(dir, 'blobs', 'sha256'))) n += (await stat(join(dir, 'blobs', 'sha256', f))).size;
  return n;
}

async function ensureImage(name: string, mib: number): Promise<string> {
  const dir = join(cache, `${name}-${mib}-v2`); // bump vN when make-image.ts changes
  if (await stat(join(dir, 'index.json')).catch(() => undefined)) return dir;
  process.stderr.write(`generating ${name} image (${mib} MiB of bulk content)...\n`);
  await makeImage(dir, mib);
  return dir;
}

const rows: string[][] = [['image', 'compressed', 'verify s (process)', 'verify s (in-process)', 'floor s (in-process)', 'verify/floor', 'verify peak RSS', 'skopeo copy s', 'skopeo peak RSS', 'verify/skopeo time', 'result']];
/** The same image with tar+zstd layers, written by skopeo (cached beside it). */
async function ensureZstd(src: string): Promise<string> {
  const dir = `${src}-zstd`;
  if (await stat(join(dir, 'index.json')).catch(() => undefined)) return dir;
  process.stderr.write(`recompressing ${src} to zstd with skopeo...\n`);
  await run('skopeo', ['copy', '-q', '--dest-compress-format', 'zstd', `oci:${src}:bench`, `oci:${dir}:bench`]);
  return dir;
}

const sizes: [string, number, boolean][] = [['small', 0, false], ['large', largeMiB, false], ['large zstd', largeMiB, true]];
if (hugeMiB > 0) sizes.push(['huge', hugeMiB, false]);
for (const [name, mib, zstd] of sizes) {
  const plain = await ensureImage(name.split(' ')[0]!, mib);
  const dir = zstd ? await ensureZstd(plain) : plain;
  const vs: { seconds: number; rssKiB: number; stdout: string }[] = [];
  const floors: number[] = [];
  const skopeos: { seconds: number; rssKiB: number }[] = [];
  for (let i = 0; i < reps; i++) {
    vs.push(await timed(process.execPath, ['--import=tsx', 'bench/verify/verify-one.ts', `oci:${dir}:bench`]));
    const f = await run(process.execPath, ['--import=tsx', 'bench/verify/floor-one.ts', dir], { maxBuffer: 1 << 20 });
    floors.push(Number(JSON.parse(f.stdout.trim()).seconds));
    const dst = await mkdtemp(join(tmpdir(), 'xbuild-bench-skopeo-'));
    try {
      skopeos.push(await timed('skopeo', ['copy', '-q', `oci:${dir}:bench`, `oci:${dst}:bench`]));
    } finally {
      await rm(dst, { recursive: true, force: true });
    }
  }
  const outs = vs.map((x) => JSON.parse(x.stdout.trim().split('\n').pop()!));
  const out = outs[0];
  const v = { seconds: median(vs.map((x) => x.seconds)), rssKiB: Math.max(...vs.map((x) => x.rssKiB)) };
  const inProcess = median(outs.map((o) => Number(o.seconds)));
  const floor = median(floors);
  const s = { seconds: median(skopeos.map((x) => x.seconds)), rssKiB: Math.max(...skopeos.map((x) => x.rssKiB)) };
  rows.push([
    name, `${((await dirBytes(dir)) / 1e6).toFixed(1)} MB (${(out.bytes / 1e6).toFixed(0)} MB files, ${out.entries} entries)`,
    v.seconds.toFixed(2), inProcess.toFixed(2), floor.toFixed(2), (inProcess / floor).toFixed(2), `${(v.rssKiB / 1024).toFixed(0)} MiB`, s.seconds.toFixed(2), `${(s.rssKiB / 1024).toFixed(0)} MiB`,
    (v.seconds / s.seconds).toFixed(2), `${out.passed ? 'pass' : `fail: ${out.ids.join(',')}`} [${out.opener}]`,
  ]);
}
const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(w[i]!)).join('  '));
console.log(`medians of ${reps} runs; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} at the end.`);
console.log('verify s (process) includes node + tsx start-up; (in-process) is verify() alone; verify/floor compares in-process times;');
console.log('the floor reads, hashes, decompresses and tar-walks every layer with zlib/fzstd + tar-stream only; verify/skopeo uses the process time. RSS: /usr/bin/time -f %M (max of the runs).');
