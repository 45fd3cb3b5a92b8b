// bench/unwrap: wall time, bytes sent to the registry, peak RSS and layers
// reused vs rewritten of `xbuild unwrap registry -> same registry` for a small
// and a large (>= 300 MiB) built image (linux/arm/v7). The built image is
// generated: a random-content base of half the size, wrapped by `xbuild wrap`
// (the emulators from the cache, or --qemu-dir DIR), then a "build" of two
// layers on top -- one holding half the size of user data plus what
// cross-build-start leaves (state file, an original: it must be rewritten)
// and a small one without xbuild paths (reused).
//   node scripts/build.mjs && npx tsx bench/unwrap/run.ts [--large-mib 320] [--qemu-dir DIR]
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeBase } from '../wrap/make-base.ts';
import { startCountProxy } from '../wrap/count-proxy.ts';
import { startRegistry } from '../../test/helpers/registry.ts';
import { buildOn } from '../../test/helpers/built-image.ts';
import { tarOf } from '../../test/helpers/mem-image.ts';
import { readOciLayout, writeOciLayout } from '../../src/layout/oci-layout.ts';
import type { Image } from '../../src/oci/model.ts';

const run = promisify(execFile);
const argv = process.argv;
const arg = (k: string) => { const i = argv.indexOf(k); return i > 0 ? argv[i + 1] : undefined; };
const sizes = [10, Number(arg('--large-mib') ?? 320)];
const qemuDir = arg('--qemu-dir');
const cache = join(process.env.XBUILD_CACHE_DIR ?? join(homedir(), '.cache', 'xbuild'), 'bench', 'unwrap');
const xbuild = (args: string[]) => run(process.execPath, ['dist/xbuild.mjs', ...args], { maxBuffer: 1 << 26, env: { ...process.env, SOURCE_DATE_EPOCH: '0' } });

async function builtImage(mib: number): Promise<string> {
  const dir = join(cache, `built-${mib}-v1`);
  if (await stat(join(dir, 'index.json')).catch(() => undefined)) return dir;
  const half = Math.max(1, Math.floor(mib / 2));
  process.stderr.write(`generating a ${mib} MiB built image...\n`);
  const base = join(cache, `base-${half}`);
  if (!await stat(join(base, 'index.json')).catch(() => undefined)) await makeBase(base, half);
  const wrapped = join(cache, `wrapped-${half}`);
  await xbuild(['wrap', `oci:${base}:bench`, '--output', `type=oci,dest=${wrapped}`, '-t', 'x/wrapped:1', '--quiet', ...(qemuDir ? ['--qemu-dir', qemuDir] : [])]);
  const user = await tarOf([
    { name: 'data/', type: 'directory' },
    { name: 'data/user.bin', content: randomBytes(half * 1024 * 1024) },
    { name: 'bin/', type: 'directory' },
    { name: 'bin/sh.xbuild-orig', content: 'original shell' },
    { name: 'usr/lib/xbuild/cross-build-active', content: '/bin/sh\n' },
  ]);
  const small = await tarOf([{ name: 'etc/', type: 'directory' }, { name: 'etc/app.conf', content: 'x=1\n' }]);
  const img = await buildOn(await readOciLayout(wrapped, '1') as Image, [{ createdBy: 'RUN build', tar: user }, { createdBy: 'RUN conf', tar: small }]);
  await writeOciLayout(dir, img, { tag: 'bench' });
  return dir;
}

async function timed(args: string[]): Promise<{ seconds: number; rssKiB: number; stdout: string }> {
  const { stdout, stderr } = await run('/usr/bin/time', ['-f', 'XBUILD_TIME %e %M', process.execPath, 'dist/xbuild.mjs', ...args], { maxBuffer: 1 << 26 });
  const m = /XBUILD_TIME ([\d.]+) (\d+)/.exec(stderr);
  if (!m) throw new Error(`no /usr/bin/time output: ${stderr}`);
  return { seconds: Number(m[1]), rssKiB: Number(m[2]), stdout };
}

if (!(await stat('dist/xbuild.mjs').catch(() => undefined))) throw new Error('dist/xbuild.mjs is missing: run node scripts/build.mjs first');
const reg = await startRegistry({ auth: 'none' });
const proxy = await startCountProxy(reg.port);
const table: string[][] = [['built image', 'operation', 'wall s', 'sent to registry', 'peak RSS', 'layers reused/rewritten/dropped', 'bytes saved']];
const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`);
try {
  for (const mib of sizes) {
    const dir = await builtImage(mib);
    await run('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${dir}:bench`, `docker://${reg.host}/built/b${mib}:1`]);
    proxy.reset();
    const r = await timed(['unwrap', `${proxy.host}/built/b${mib}:1`, '-t', `${proxy.host}/clean/b${mib}:1`, '--json']);
    const rep = JSON.parse(r.stdout);
    const l = rep.platforms[0].layers;
    table.push([`${mib} MiB`, 'xbuild unwrap registry -> same registry', r.seconds.toFixed(2), fmt(proxy.sent()), `${(r.rssKiB / 1024).toFixed(0)} MiB`, `${l.reused}/${l.rewritten}/${l.dropped}`, fmt(rep.bytesSaved)]);
  }
} finally {
  await proxy.stop();
  await reg.stop();
}
const w = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
for (const r of table) console.log(r.map((c, i) => c.padEnd(w[i]!)).join('  '));
console.log('wall s and peak RSS: /usr/bin/time (whole process); sent: bytes the client wrote to the registry through a counting TCP proxy (reused layers are mounted, rewritten ones uploaded).');
