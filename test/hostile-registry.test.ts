// Issue 18: `wrap` against a hostile registry, through the built bundle. A
// fault proxy (test/helpers/fault-proxy.ts) sits in front of Debian's real
// docker-registry and misbehaves per request: stalls, wrong bytes, ignored
// Range with cut connections, 3xx HEADs, 401 challenges. Exit 0 must mean a
// correct result; every failure is one line, exit 2, and ends promptly.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from './helpers/registry.ts';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.ts';
import { assertOneLine, REAL_CACHE, xbuildBin } from './helpers/hostile-cli.ts';
import { baseParts, LayoutBuilder, sha, standInQemuDir, type BaseParts } from './helpers/hostile-inputs.ts';
import { run } from './helpers/small-images.ts';

let reg: TestRegistry;
let proxy: FaultProxy;
let tmp: string;
let qemu: string;
let small: BaseParts; // one 300 KB incompressible layer
let second: BaseParts; // another
let big: BaseParts;   // one 12 MiB incompressible layer

async function pushLayout(dir: string, ref: string): Promise<void> {
  await run('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${dir}:latest`, `docker://${reg.host}/${ref}`]);
}

test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'xbuild-hostile-reg-'));
  qemu = await standInQemuDir(join(tmp, 'qemu'));
  reg = await startRegistry({ auth: 'none' });
  proxy = await startFaultProxy(reg.url);
  small = await baseParts(undefined, { 'data.bin': randomBytes(300_000) });
  big = await baseParts(undefined, { 'big.bin': randomBytes(12 * 2 ** 20) });
  for (const [name, parts] of [['small', small], ['big', big]] as const) {
    const l = await new LayoutBuilder(join(tmp, name)).init();
    await l.tag(await l.image(parts));
    await pushLayout(l.dir, `h/${name}:1`);
  }
  // two layers: the first gets wrong bytes, the second stalls
  second = await baseParts(undefined, { 'other.bin': randomBytes(300_000) });
  const l = await new LayoutBuilder(join(tmp, 'two')).init();
  const c = await l.put({ ...small.config, rootfs: { type: 'layers', diff_ids: [sha(small.layerTar), sha(second.layerTar)] } }, 'application/vnd.oci.image.config.v1+json');
  const l1 = await l.put(small.layerGz, 'application/vnd.oci.image.layer.v1.tar+gzip');
  const l2 = await l.put(second.layerGz, 'application/vnd.oci.image.layer.v1.tar+gzip');
  await l.tag(await l.put({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: c, layers: [l1, l2] }, 'application/vnd.oci.image.manifest.v1+json'));
  await pushLayout(l.dir, 'h/two:1');
  // an index with the same entry twice
  const d = await new LayoutBuilder(join(tmp, 'dup')).init();
  const img = await d.image(small);
  const entry = { ...img, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } };
  await d.tag(await d.index([entry, entry]));
  await run('skopeo', ['copy', '-q', '--all', '--dest-tls-verify=false', `oci:${d.dir}:latest`, `docker://${reg.host}/h/dup:1`]);
});
test.after.always(async () => { await proxy?.stop(); await reg?.stop(); if (tmp) await rm(tmp, { recursive: true, force: true }); });
test.afterEach.always(() => { proxy.clearFaults(); proxy.requests.length = 0; });

let n = 0;
const out = () => join(tmp, `out${++n}`);
const xbuild = (args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 90_000) => xbuildBin(args, { env: { HOME: tmp, XBUILD_CACHE_DIR: REAL_CACHE, ...env }, timeoutMs });
const layerPath = (p: BaseParts) => new RegExp(`/blobs/${sha(p.layerGz)}$`);

test.serial('a blob that stalls after 1000 bytes: "the registry stopped sending", exit 2 within seconds (was 5 x 120 s and ECONNRESET aborted)', async (t) => {
  proxy.addFault({ method: 'GET', path: layerPath(small), kind: 'stall', afterBytes: 1000, times: Infinity });
  const r = await xbuild(['wrap', `${proxy.host}/h/small:1`, '--qemu-dir', qemu, '--output', `type=oci,dest=${out()}`], { XBUILD_STALL_TIMEOUT: '1' });
  assertOneLine(t, r, /the registry stopped sending \(nothing for 1 s after \d+ of \d+ bytes\).*gave up after 5 attempts/);
  t.true(r.ms < 30_000, `took ${r.ms} ms`);
});

test.serial('the per-blob deadline (XBUILD_BLOB_TIMEOUT) ends a blob that keeps stalling, whatever the retry budget', async (t) => {
  proxy.addFault({ method: 'GET', path: layerPath(small), kind: 'stall', afterBytes: 1000, times: Infinity });
  const r = await xbuild(['wrap', `${proxy.host}/h/small:1`, '--qemu-dir', qemu, '--output', `type=oci,dest=${out()}`], { XBUILD_STALL_TIMEOUT: '30', XBUILD_BLOB_TIMEOUT: '2' });
  assertOneLine(t, r, /deadline/);
  t.true(r.ms < 20_000, `took ${r.ms} ms`);
});

test.serial('--timeout bounds the whole command', async (t) => {
  proxy.addFault({ method: 'GET', path: layerPath(small), kind: 'stall', afterBytes: 1000, times: Infinity });
  const r = await xbuild(['wrap', `${proxy.host}/h/small:1`, '--qemu-dir', qemu, '--output', `type=oci,dest=${out()}`, '--timeout', '3']);
  assertOneLine(t, r, /not done within the --timeout of 3 s/);
  t.true(r.ms < 20_000, `took ${r.ms} ms`);
});

test.serial('a registry that ignores Range and cuts every connection a little later: no quadratic re-reading (was 12 connections, 79 MB for 12 MB)', async (t) => {
  const p2 = await startFaultProxy(reg.url, { ignoreRange: true });
  t.teardown(() => p2.stop());
  for (let k = 1; k <= 14; k++) p2.addFault({ method: 'GET', path: layerPath(big), kind: 'reset', afterBytes: k * 2 ** 20 + 100_000 });
  const r = await xbuild(['wrap', `${p2.host}/h/big:1`, '--qemu-dir', qemu, '--output', `type=oci,dest=${out()}`, '-q']);
  const moved = p2.requests.filter((q) => q.method === 'GET' && layerPath(big).test(q.path)).reduce((a, q) => a + (q.bytes ?? 0), 0);
  const size = big.layerGz.length;
  t.true(moved <= 3 * size + 2 * 2 ** 20, `moved ${moved} bytes for a ${size}-byte blob`);
  assertOneLine(t, r, /ignores Range|gave up after/);
});

test.serial('a consumer that gives up cancels the other blob streams: no retries after the final error, prompt exit (was 364 s)', async (t) => {
  proxy.addFault({ method: 'GET', path: layerPath(small), kind: 'corrupt', at: 5000, times: Infinity });
  proxy.addFault({ method: 'GET', path: layerPath(second), kind: 'stall', afterBytes: 1000, times: Infinity });
  const r = await xbuild(['wrap', `${proxy.host}/h/two:1`, '--qemu-dir', qemu, '-t', `${reg.host}/h/two-out:1`], { XBUILD_STALL_TIMEOUT: '2' }, 60_000);
  assertOneLine(t, r, /content is sha256:|DIGEST|expected sha256/);
  const after = r.stderr.slice(r.stderr.indexOf('xbuild:'));
  t.notRegex(after, /retrying/);
  t.true(r.ms < 15_000, `took ${r.ms} ms`); // before: no exit within 90 s
});

test.serial('a 3xx answer to a blob HEAD is not "Layer already exists": the blob is uploaded and the push succeeds', async (t) => {
  proxy.addFault({ method: 'HEAD', path: /\/blobs\/sha256:/, kind: 'status', status: 302, headers: { Location: 'http://127.0.0.1:9/elsewhere' }, times: Infinity });
  const r = await xbuild(['wrap', `oci:${join(tmp, 'small')}`, '--qemu-dir', qemu, '-t', `${proxy.host}/h/head-out:1`]);
  t.is(r.code, 0, r.stderr);
  t.notRegex(r.stderr, /already exists/);
  const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/h/head-out:1`]);
  t.is(JSON.parse(stdout).Layers.length, 2);
});

test.serial('identical index entries are fetched once', async (t) => {
  const r = await xbuild(['wrap', `${proxy.host}/h/dup:1`, '--qemu-dir', qemu, '--output', `type=oci,dest=${out()}`, '-q']);
  t.is(r.code, 0, r.stderr);
  const child = proxy.requests.filter((q) => q.method === 'GET' && /\/manifests\/sha256:/.test(q.path));
  t.is(child.length, 1, JSON.stringify(child));
});

test.serial('no credential material in errors: a malformed config.json names file and position; a failing helper\'s output is not shown', async (t) => {
  proxy.addFault({ method: 'GET', path: /^\/v2\/$/, kind: 'status', status: 401, headers: { 'WWW-Authenticate': 'Basic realm="hostile"' }, times: Infinity });
  const cfgDir = join(tmp, 'dockercfg'); await mkdir(cfgDir, { recursive: true });
  await writeFile(join(cfgDir, 'config.json'), '{"auths":{"h":{"password":hunter2secret}}}');
  const r1 = await xbuild(['wrap', `${proxy.host}/h/small:1`, '--qemu-dir', qemu, '--output', `type=oci,dest=${out()}`], { DOCKER_CONFIG: cfgDir });
  assertOneLine(t, r1, /config\.json is not valid JSON/);
  t.notRegex(r1.stderr, /hunter2/);
  const binDir = join(tmp, 'helperbin'); await mkdir(binDir, { recursive: true });
  await writeFile(join(binDir, 'docker-credential-leaky'), '#!/bin/sh\necho "token=s3cr3t-from-helper"\nexit 1\n');
  await chmod(join(binDir, 'docker-credential-leaky'), 0o755);
  await writeFile(join(cfgDir, 'config.json'), '{"credsStore":"leaky"}');
  const r2 = await xbuild(['wrap', `${proxy.host}/h/small:1`, '--qemu-dir', qemu, '--output', `type=oci,dest=${out()}`], { DOCKER_CONFIG: cfgDir, PATH: `${binDir}:${process.env.PATH}` });
  assertOneLine(t, r2, /credential helper docker-credential-leaky failed/);
  t.notRegex(r2.stderr, /s3cr3t/);
});

test.serial('a huge manifest (64 MiB) is refused by its size cap: one line, exit 2, without retrying the download', async (t) => {
  proxy.addFault({ method: 'GET', path: /\/manifests\/1$/, kind: 'huge', bytes: 64 * 2 ** 20, times: Infinity });
  const r = await xbuild(['wrap', `${proxy.host}/h/small:1`, '--qemu-dir', qemu, '--output', `type=oci,dest=${out()}`]);
  assertOneLine(t, r, /larger than \d+ bytes/);
  const gets = proxy.requests.filter((q) => q.method === 'GET' && /\/manifests\//.test(q.path));
  t.is(gets.length, 1, JSON.stringify(gets));
});

test.serial('a same-size corrupt source blob is never committed at the destination: no upload PUT for it (was streamed in full and PUT before the mismatch was seen)', async (t) => {
  const dest = await startFaultProxy(reg.url); // another host: no cross-repository mount, the blob is streamed from the source
  t.teardown(() => dest.stop());
  proxy.addFault({ method: 'GET', path: layerPath(small), kind: 'corrupt', at: 250_000, times: Infinity });
  const r = await xbuild(['wrap', `${proxy.host}/h/small:1`, '--qemu-dir', qemu, '-t', `${dest.host}/h/corrupt-out:1`], {}, 60_000);
  assertOneLine(t, r, /content is sha256:|DIGEST|expected sha256|does not match/);
  t.true(dest.requests.some((q) => q.method === 'POST' && /\/h\/corrupt-out\/blobs\/uploads\/$/.test(q.path)), 'an upload was started');
  const commits = dest.requests.filter((q) => q.method === 'PUT' && /\/h\/corrupt-out\/blobs\/uploads\//.test(q.path) && q.path.includes(encodeURIComponent(sha(small.layerGz))));
  t.deepEqual(commits, [], 'the upload of the corrupt blob is never committed');
  const patched = dest.requests.filter((q) => q.method === 'PATCH' && /\/h\/corrupt-out\/blobs\/uploads\//.test(q.path));
  t.deepEqual(patched, [], 'nor sent as chunks');
});
