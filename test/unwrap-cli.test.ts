// `xbuild unwrap` through the CLI (in-process): oci -> oci and -> registry
// with --json, and bad input -- an image never wrapped, an image from another
// tool, a corrupt layer, a registry fault mid-push: one `xbuild:` line,
// exit 2, and nothing half-written (no manifest before its blobs).
import test from 'ava';
import { mkdtemp, rm, readFile, writeFile, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../src/cli/run.ts';
import { writeOciLayout, readOciLayout } from '../src/layout/oci-layout.ts';
import { wrapImage, type LayerSource } from '../src/wrap/wrap.ts';
import type { Image } from '../src/oci/model.ts';
import { capture } from './helpers/capture.ts';
import { memImage, tarOf } from './helpers/mem-image.ts';
import { buildOn, withHistory } from './helpers/built-image.ts';
import { startRegistry, type TestRegistry } from './helpers/registry.ts';
import { startFaultProxy } from './helpers/fault-proxy.ts';

const SHIM = Buffer.alloc(300, 7);
const layerSource: LayerSource = async (arch) => ({
  qemuVersion: '10.0.0',
  entries: [
    { path: 'usr/bin/cross-build-start', type: 'file', mode: 0o755, content: SHIM },
    { path: 'usr/bin/cross-build-end', type: 'file', mode: 0o755, content: SHIM },
    { path: `usr/bin/qemu-${arch}-static`, type: 'file', mode: 0o755, content: Buffer.alloc(200_000, 3) },
  ],
});

let tmp = '';
let reg: TestRegistry;
test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'xbuild-unwrap-cli-'));
  reg = await startRegistry({ auth: 'none' });
  const base = await withHistory(memImage('fixture', { architecture: 'arm64' }, [{ tar: await tarOf([{ name: 'etc/', type: 'directory' }, { name: 'etc/os-release', content: 'ID=test\n' }]) }]));
  await writeOciLayout(join(tmp, 'plain'), base, { tag: '1' });
  const wrapped = (await wrapImage(base, { baseName: 'fixture', layerSource, xbuildVersion: '9' })).image as Image;
  const built = await buildOn(wrapped, [{ createdBy: 'RUN x', tar: await tarOf([{ name: 'app', content: 'app\n' }, { name: 'usr/lib/xbuild/cross-build-active', content: '/bin/sh\n' }]) }]);
  await writeOciLayout(join(tmp, 'built'), built, { tag: '1' });
  // another tool's image: a label-less image with a qemu binary (balena style)
  const other = await withHistory(memImage('other', { architecture: 'arm' }, [{ tar: await tarOf([{ name: 'usr/bin/qemu-arm-static', content: 'x' }]) }]));
  await writeOciLayout(join(tmp, 'other'), other, { tag: '1' });
});
test.after.always(async () => { await reg?.stop(); await rm(tmp, { recursive: true, force: true }); });

async function cli(args: string[]) {
  const c = capture();
  c.ctx.env = { HOME: tmp, PATH: process.env.PATH };
  const code = await runCli(['unwrap', ...args], c.ctx);
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

function oneLineError(t: import('ava').ExecutionContext, r: { code: number; stderr: string }, re: RegExp) {
  t.is(r.code, 2, r.stderr);
  const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('xbuild:'));
  t.is(lines.length, 1, r.stderr);
  t.regex(lines[0]!, re);
  t.notRegex(r.stderr, /\n\s+at /);
}

test('oci -> oci and -> registry with --json: layers reused/rewritten/dropped, bytes saved, same digest both ways', async (t) => {
  const r = await cli([`oci:${join(tmp, 'built')}:1`, '--output', `type=oci,dest=${join(tmp, 'out')}`, '-t', 'x/app:clean', '--json']);
  t.is(r.code, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  t.deepEqual(rep.platforms[0].layers, { reused: 1, rewritten: 1, dropped: 1 });
  t.true(rep.bytesSaved > 0);
  const img = await readOciLayout(join(tmp, 'out'), 'clean') as Image;
  t.is(await img.digest(), rep.digest);
  t.is((await img.manifest()).layers.length, 2);
  const p = await cli([`oci:${join(tmp, 'built')}:1`, '-t', `${reg.host}/app:clean`, '--json']);
  t.is(p.code, 0, p.stderr);
  t.is(JSON.parse(p.stdout).digest, rep.digest);
});

test('bad input: never wrapped, another tool\'s image, no destination, corrupt layer -> one line, exit 2, nothing written', async (t) => {
  oneLineError(t, await cli([`oci:${join(tmp, 'plain')}:1`, '--output', `type=oci,dest=${join(tmp, 'o1')}`]), /was never wrapped by xbuild/);
  oneLineError(t, await cli([`oci:${join(tmp, 'other')}:1`, '--output', `type=oci,dest=${join(tmp, 'o1')}`]), /was never wrapped by xbuild/);
  oneLineError(t, await cli([`oci:${join(tmp, 'built')}:1`]), /no destination/);
  // corrupt the last layer blob of a copy
  const { cp } = await import('node:fs/promises');
  await cp(join(tmp, 'built'), join(tmp, 'corrupt'), { recursive: true });
  const img = await readOciLayout(join(tmp, 'corrupt'), '1') as Image;
  const last = (await img.manifest()).layers.at(-1)!;
  const blob = join(tmp, 'corrupt', 'blobs', 'sha256', last.digest.slice(7));
  const bytes = await readFile(blob); bytes[bytes.length - 20] = bytes[bytes.length - 20]! ^ 0xff; await writeFile(blob, bytes);
  oneLineError(t, await cli([`oci:${join(tmp, 'corrupt')}:1`, '--output', `type=oci,dest=${join(tmp, 'o2')}`]), /digest|not a readable tar|gzip|incorrect|check/i);
  for (const d of ['o1', 'o2']) t.false(await stat(join(tmp, d)).then(() => true, () => false), `${d} was not written`);
  t.deepEqual((await readdir(tmp)).filter((n) => n.startsWith('o')).sort(), ['other', 'out']);
});

test('a registry fault mid-push: exit 2, one line, and no manifest was put', async (t) => {
  const proxy = await startFaultProxy(reg.url);
  try {
    proxy.addFault({ method: 'PUT', path: /\/blobs\/uploads\//, kind: 'status', status: 500, times: Infinity });
    proxy.addFault({ method: 'PATCH', path: /\/blobs\/uploads\//, kind: 'status', status: 500, times: Infinity });
    const r = await cli([`oci:${join(tmp, 'built')}:1`, '-t', `${proxy.host}/faulty:1`]);
    t.is(r.code, 2, r.stderr);
    t.is(r.stderr.trim().split('\n').filter((l) => l.startsWith('xbuild:')).length, 1, r.stderr);
    t.false(proxy.requests.some((q) => q.method === 'PUT' && /\/manifests\//.test(q.path)), 'no manifest PUT');
  } finally {
    await proxy.stop();
  }
});
