// `xbuild wrap` through the CLI (in-process runCli, and once through the
// bundled bin): flags, the no-destination default, one-line errors with
// stable exit codes, --json, and the real composition (xbuild's patched
// qemu-*-static through --qemu-dir + the real xbuild shim); Debian's stock
// qemu-user-static through --qemu-dir is refused.
import test from 'ava';
import { mkdtemp, rm, readdir, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { runCli } from '../src/cli/run.ts';
import { readOciLayout } from '../src/layout/oci-layout.ts';
import type { Image } from '../src/oci/model.ts';
import { capture } from './helpers/capture.ts';
import { smallImages, run } from './helpers/small-images.ts';
import { startRegistry, type TestRegistry } from './helpers/registry.ts';
import { findEmulator } from './helpers/emulators.ts';

let f: string;
let tmp: string;
let reg: TestRegistry;
/** xbuild's patched emulators (both targets are built into one cache entry). */
let qemuDir: string;
test.before(async () => {
  f = await smallImages();
  qemuDir = dirname(await findEmulator('arm'));
  if (dirname(await findEmulator('aarch64')) !== qemuDir) throw new Error('the arm and aarch64 emulators are in different directories');
  tmp = await mkdtemp(join(tmpdir(), 'xbuild-wrap-cli-'));
  reg = await startRegistry({ auth: 'htpasswd' });
  await run('skopeo', ['copy', '-q', '--dest-tls-verify=false', '--dest-creds', `${reg.username}:${reg.password}`, `oci:${f}/arm64`, `docker://${reg.host}/base/busybox:arm64`]);
});
test.after.always(async () => { await reg?.stop(); await rm(tmp, { recursive: true, force: true }); });

async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const c = capture();
  c.ctx.env = { HOME: tmp, XBUILD_CACHE_DIR: process.env.XBUILD_CACHE_DIR ?? join(process.env.HOME ?? '/root', '.cache', 'xbuild'), PATH: process.env.PATH, ...env };
  const code = await runCli(['wrap', ...args], c.ctx);
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

function oneLineError(t: any, r: { code: number; stderr: string }, re: RegExp) {
  t.is(r.code, 2, r.stderr);
  const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('xbuild:'));
  t.is(lines.length, 1, r.stderr);
  t.regex(lines[0]!, re);
  t.notRegex(r.stderr, /\n\s+at /);
}

test('no -t and no --output: refused with a hint naming both (nothing read or written)', async (t) => {
  const r = await cli([`oci:${f}/armhf`]);
  oneLineError(t, r, /no destination/);
  t.regex(r.stderr, /hint: .*-t .*--output type=oci/);
});

test('bad input: malformed names, bad flags, missing sources, amd64 base, missing emulator -> one line, exit 2, no stack', async (t) => {
  oneLineError(t, await cli(['Bad//Name::x', '-t', 'localhost:5000/a:b']), /invalid image name/);
  oneLineError(t, await cli([`oci:${f}/armhf`, '-t', 'localhost:5000/UPPER:b']), /invalid image name/);
  oneLineError(t, await cli([`oci:${f}/armhf`, '--output', 'type=tarball']), /--output type "tarball"/);
  oneLineError(t, await cli([`oci:${f}/armhf`, '--output', 'type=oci']), /needs dest=PATH/);
  oneLineError(t, await cli([`oci:${f}/armhf`, '--output', 'type=registry']), /needs at least one -t/);
  oneLineError(t, await cli([`oci:${f}/armhf`, '--platform', 'linux//x', '-t', 'localhost:5000/a:b']), /malformed platform/);
  oneLineError(t, await cli([`oci:${tmp}/nope`, '--output', `type=oci,dest=${tmp}/o1`]), /not an OCI image layout/);
  oneLineError(t, await cli([`oci:${f}/armhf:nosuchtag`, '--output', `type=oci,dest=${tmp}/o1`]), /no image tagged "nosuchtag"/);
  oneLineError(t, await cli([`docker-archive:${tmp}/missing.tar`, '--output', `type=oci,dest=${tmp}/o1`]), /no such file/);
  oneLineError(t, await cli([`oci:${f}/amd64`, '--output', `type=oci,dest=${tmp}/o1`]), /linux\/amd64, which runs natively/);
  await mkdir(join(tmp, 'emptyqemu'), { recursive: true });
  const r = await cli([`oci:${f}/armhf`, '--qemu-dir', join(tmp, 'emptyqemu'), '--output', `type=oci,dest=${tmp}/o1`]);
  oneLineError(t, r, /no qemu-arm-static/);
  t.regex(r.stderr, /hint: .*xbuild qemu build/);
  oneLineError(t, await cli(['127.0.0.1:1/x/y:z', '--output', `type=oci,dest=${tmp}/o1`]), /127\.0\.0\.1:1/);
  oneLineError(t, await cli([`${reg.host}/base/busybox:arm64`, '--output', `type=oci,dest=${tmp}/o1`]), /unauthori|401|credentials/i);
  t.false((await readdir(tmp)).includes('o1'));
});

test('--qemu-dir holding Debian\'s stock qemu-user-static (no execve interception) is refused: one line, exit 2, a hint, nothing written', async (t) => {
  const r = await cli([`oci:${f}/armhf`, '--qemu-dir', join(f, 'qemu'), '--output', `type=oci,dest=${tmp}/stock`]);
  oneLineError(t, r, /the arm emulator .*qemu-arm-static is not xbuild's: no "xbuild" ELF note of type 1/);
  t.regex(r.stderr, /hint: .*xbuild qemu build.*qemu-user-static will not do/);
  t.false((await readdir(tmp)).includes('stock'));
});

test('real composition (xbuild\'s qemu-arm-static via --qemu-dir + the built xbuild shim): oci -> oci with --json', async (t) => {
  const out = join(tmp, 'real');
  const r = await cli([`oci:${f}/multi`, '--qemu-dir', qemuDir, '--output', `type=oci,dest=${out}`, '-t', 'busybox-xbuild:1', '--json'], { SOURCE_DATE_EPOCH: '1700000000' });
  t.is(r.code, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  t.is(rep.outputs[0].reference, `oci:${out}:1`);
  t.deepEqual(rep.platforms.map((p: { platform: string }) => p.platform), ['linux/arm/v7', 'linux/arm/v5', 'linux/arm64', 'linux/amd64', 'attestation']);
  const idx = await readOciLayout(out, '1');
  if (idx.kind !== 'index') return t.fail();
  const child = await idx.child((await idx.manifest()).manifests[0]!) as Image;
  const cfg = await child.config();
  t.is(cfg.history!.at(-1)!.created_by, 'xbuild wrap (qemu-arm-static, cross-build-start, cross-build-end)');
  t.regex(cfg.config!.Labels!['io.xbuild.qemu.version']!, /^\d+\.\d+/);
  const layer = (await child.manifest()).layers.at(-1)!;
  const { stdout } = await run('tar', ['-tvzf', join(out, 'blobs/sha256', layer.digest.slice(7))], { env: { ...process.env, TZ: 'UTC' } });
  t.regex(stdout, /usr\/bin\/cross-build-start/);
  t.regex(stdout, /usr\/bin\/qemu-arm-static/);
  t.regex(stdout, / 0\/0 .*2023-11-14 22:13 usr\/bin\/qemu-arm-static/);
  // same inputs again: same digest
  const r2 = await cli([`oci:${f}/multi`, '--qemu-dir', qemuDir, '--output', `type=oci,dest=${join(tmp, 'real2')}`, '--json'], { SOURCE_DATE_EPOCH: '1700000000' });
  t.is(JSON.parse(r2.stdout).digest, rep.digest);
});

test('registry with Basic auth from DOCKER_CONFIG -> registry, plain output names ref@digest', async (t) => {
  const r = await cli([`${reg.host}/base/busybox:arm64`, '--qemu-dir', qemuDir, '-t', `${reg.host}/wrapped/busybox:arm64`],
    { DOCKER_CONFIG: reg.dockerConfig() });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, new RegExp(`^${reg.host}/wrapped/busybox:arm64@sha256:[a-f0-9]{64}\\n$`));
  t.regex(r.stderr, /Mounted from .*base\/busybox/);
  const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', '--creds', `${reg.username}:${reg.password}`, `docker://${reg.host}/wrapped/busybox:arm64`]);
  t.is(JSON.parse(stdout).Layers.length, 2);
});

test('the bundled bin runs wrap (bundle built by npm test / scripts/build.mjs)', async (t) => {
  const out = join(tmp, 'bundle');
  const { stdout } = await promisify(execFile)(process.execPath, ['bin/xbuild.mjs', 'wrap', `oci:${f}/armel`, '--qemu-dir', qemuDir, '--output', `type=docker,dest=${out}.tar`, '-t', 'busybox-xbuild:armel', '--quiet'],
    // the shim comes from the cache `xbuild qemu build` filled (wrap compiles nothing)
    { env: { ...process.env, HOME: tmp, XBUILD_CACHE_DIR: process.env.XBUILD_CACHE_DIR ?? join(process.env.HOME ?? '/root', '.cache', 'xbuild') } });
  t.regex(stdout, /^docker-archive:.*bundle\.tar@sha256:[a-f0-9]{64}\n$/);
  const err = await t.throwsAsync(promisify(execFile)(process.execPath, ['bin/xbuild.mjs', 'wrap', `oci:${f}/amd64`, '--output', `type=oci,dest=${out}`])) as Error & { code?: number; stderr?: string };
  t.is(err.code, 2);
  t.regex(err.stderr ?? "", /^xbuild: .*runs natively/m);
});

test('layer cache: a fresh key is built and stored, the next wrap reads it back, --no-layer-cache builds afresh; same image every time', async (t) => {
  // a SOURCE_DATE_EPOCH no other run uses: the first wrap is a miss whatever the shared cache holds
  const env = { SOURCE_DATE_EPOCH: String(1_600_000_000 + Math.floor(Math.random() * 1e8)) };
  const wrap = (name: string, extra: string[] = []) => cli([`oci:${f}/armhf`, '--qemu-dir', qemuDir, '--output', `type=oci,dest=${join(tmp, name)}`, '-t', 'x:1', ...extra], env);
  const miss = await wrap('lc1');
  const hit = await wrap('lc2');
  const off = await wrap('lc3', ['--no-layer-cache']);
  for (const r of [miss, hit, off]) t.is(r.code, 0, r.stderr);
  t.regex(miss.stderr, /xbuild layer: built and stored in the layer cache/);
  t.regex(hit.stderr, /xbuild layer: from the layer cache/);
  t.notRegex(off.stderr, /layer cache/);
  const digests = [miss, hit, off].map((r) => r.stdout.trim().split('@')[1]);
  t.is(new Set(digests).size, 1, digests.join(' '));
});
