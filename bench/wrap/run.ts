// bench/wrap: wall time, bytes sent to the registry and peak RSS of
// `xbuild wrap` for a 5 MiB and a 300 MiB generated base (linux/arm/v7), in
// two cases — mount (base already in the same registry: base layers are
// cross-repository mounted, not sent) and upload (base from an OCI layout) —
// next to `skopeo copy` of the same base in the same run, plus the 300/5
// ratios. The emulator is Debian's qemu-arm-static from the fixture script;
// the shim is the real one (built into the cache).
//   node scripts/build.mjs && npx tsx bench/wrap/run.ts [--large-mib 300]
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { cacheRoot } from '../../src/cache-root.ts';
import { dirname, join } from 'node:path';
import { findEmulator } from '../../test/helpers/emulators.ts';
import { promisify } from 'node:util';
import { makeBase } from './make-base.ts';
import { startCountProxy } from './count-proxy.ts';
import { startRegistry } from '../../test/helpers/registry.ts';

const run = promisify(execFile);
const arg = (k: string, d: number) => { const i = process.argv.indexOf(k); return i > 0 ? Number(process.argv[i + 1]) : d; };
const sizes = [5, arg('--large-mib', 300)];
const cache = join(cacheRoot(process.env), 'bench', 'wrap');

async function timed(cmd: string, args: string[]): Promise<{ seconds: number; rssKiB: number }> {
  const { stderr } = await run('/usr/bin/time', ['-f', 'XBUILD_TIME %e %M', cmd, ...args], { maxBuffer: 1 << 26, env: { ...process.env, SOURCE_DATE_EPOCH: '0' } });
  const m = /XBUILD_TIME ([\d.]+) (\d+)/.exec(stderr);
  if (!m) throw new Error(`no /usr/bin/time output: ${stderr}`);
  return { seconds: Number(m[1]), rssKiB: Number(m[2]) };
}

async function ensureBase(mib: number): Promise<string> {
  const dir = join(cache, `base-${mib}-v1`);
  if (await stat(join(dir, 'index.json')).catch(() => undefined)) return dir;
  process.stderr.write(`generating a ${mib} MiB base...\n`);
  await makeBase(dir, mib);
  return dir;
}

if (!(await stat('dist/xbuild.mjs').catch(() => undefined))) throw new Error('dist/xbuild.mjs is missing: run node scripts/build.mjs first');
const qemuDir = dirname(await findEmulator('arm')); // xbuild's patched emulators (wrap refuses stock QEMU)
const reg = await startRegistry({ auth: 'none' });
const proxy = await startCountProxy(reg.port);
type Row = { size: number; what: string; seconds: number; sent: number; rssKiB: number };
const rows: Row[] = [];
try {
  for (const mib of sizes) {
    const dir = await ensureBase(mib);
    const measure = async (what: string, cmd: string, args: string[]) => {
      proxy.reset();
      const r = await timed(cmd, args);
      rows.push({ size: mib, what, seconds: r.seconds, sent: proxy.sent(), rssKiB: r.rssKiB });
    };
    const xb = (src: string, dst: string): [string, string[]] => [process.execPath, ['dist/xbuild.mjs', 'wrap', src, '-t', dst, '--qemu-dir', qemuDir, '--quiet']];
    await measure('skopeo copy oci -> registry', 'skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${dir}:bench`, `docker://${proxy.host}/base/b${mib}:1`]);
    await measure('xbuild wrap oci -> registry (upload)', ...xb(`oci:${dir}:bench`, `${proxy.host}/up/b${mib}:1`));
    await measure('xbuild wrap registry -> same registry (mount)', ...xb(`${proxy.host}/base/b${mib}:1`, `${proxy.host}/wrapped/b${mib}:1`));
    await measure('skopeo copy registry -> same registry', 'skopeo', ['copy', '-q', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${proxy.host}/base/b${mib}:1`, `docker://${proxy.host}/copy/b${mib}:1`]);
  }
} finally {
  await proxy.stop();
  await reg.stop();
}
const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`);
const table: string[][] = [['base', 'operation', 'wall s', 'sent to registry', 'peak RSS']];
for (const r of rows) table.push([`${r.size} MiB`, r.what, r.seconds.toFixed(2), fmt(r.sent), `${(r.rssKiB / 1024).toFixed(0)} MiB`]);
table.push(['', '', '', '', '']);
const [small, large] = sizes;
for (const what of [...new Set(rows.map((r) => r.what))]) {
  const a = rows.find((r) => r.size === small && r.what === what)!; const b = rows.find((r) => r.size === large && r.what === what)!;
  table.push([`${large}/${small}`, what, `x${(b.seconds / a.seconds).toFixed(2)}`, `x${(b.sent / a.sent).toFixed(2)}`, `x${(b.rssKiB / a.rssKiB).toFixed(2)}`]);
}
const w = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
for (const r of table) console.log(r.map((c, i) => c.padEnd(w[i]!)).join('  '));
console.log('wall s and peak RSS: /usr/bin/time (whole process, node start-up included); sent: bytes clients wrote to the registry through a counting TCP proxy.');
