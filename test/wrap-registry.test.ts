// wrap against a real registry (Debian's docker-registry, CNCF distribution)
// on loopback; fixtures pushed there with skopeo. The added layer is a
// STAND-IN (Debian's qemu-*-static + placeholder shims) in these library-tier
// tests; test/wrap-cli.test.ts runs the real composition.
import test from 'ava';
import { readFile, writeFile, mkdtemp, rm, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWrap, type WrapRequest } from '../src/wrap/run-wrap.ts';
import { XbuildError } from '../src/errors.ts';
import { RegistryClient } from '../src/registry/client.ts';
import { startRegistry, type TestRegistry } from './helpers/registry.ts';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.ts';
import { smallImages, standInLayerSource, run } from './helpers/small-images.ts';

const RETRY = { attempts: 4, baseDelayMs: 20, maxDelayMs: 100 };
let reg: TestRegistry;
let f: string;

test.before(async () => {
  f = await smallImages();
  reg = await startRegistry({ auth: 'none' });
  for (const [src, dst] of [['armhf', 'base/busybox:armhf'], ['multi', 'base/busybox:multi'], ['amd64', 'base/busybox:amd64']] as const) {
    await run('skopeo', ['copy', '-q', '--all', '--dest-tls-verify=false', `oci:${f}/${src}`, `docker://${reg.host}/${dst}`]);
  }
});
test.after.always(async () => { await reg?.stop(); });

function req(image: string, tags: string[], extra: Partial<WrapRequest> = {}): WrapRequest {
  return { image, tags, env: {}, xbuildVersion: '9.9.9-test', hostArch: 'amd64', ...extra };
}
const deps = () => ({ layerSource: standInLayerSource(join(f, 'qemu')), registry: { retry: RETRY } });

async function inspect(ref: string, raw = false): Promise<any> {
  return JSON.parse((await run('skopeo', ['inspect', ...(raw ? ['--raw'] : []), '--tls-verify=false', `docker://${ref}`])).stdout);
}

test.serial('registry -> same registry (stand-in layer): base layer mounted, not sent; manifest pushed last; skopeo reads the result', async (t) => {
  const events: string[] = [];
  const rep = await runWrap(req(`${reg.host}/base/busybox:armhf`, [`${reg.host}/wrapped/busybox:armhf`, `${reg.host}/wrapped/busybox:armhf-2`]), deps(),
    (ev) => { if (ev.kind === 'done') events.push(`${ev.label}: ${ev.note}`); });
  t.deepEqual(rep.outputs[0]!.blobs, { mounted: 1, uploaded: 2, exists: 0 });
  t.deepEqual(rep.outputs[1]!.blobs, { mounted: 0, uploaded: 0, exists: 3 });
  t.true(events.some((e) => /Mounted from .*base\/busybox/.test(e)));
  t.true(events.some((e) => /Layer already exists/.test(e)));
  const info = await inspect(`${reg.host}/wrapped/busybox:armhf`);
  t.is(info.Architecture, 'arm'); t.is(info.Layers.length, 2);
  t.is(info.Digest, rep.digest);
  const base = await inspect(`${reg.host}/base/busybox:armhf`);
  t.is(info.Layers[0], base.Layers[0]);
  const m = await inspect(`${reg.host}/wrapped/busybox:armhf`, true);
  t.is(m.annotations['org.opencontainers.image.base.name'], `${reg.host}/base/busybox:armhf`);
  t.is(m.annotations['org.opencontainers.image.base.digest'], base.Digest);
});

test.serial('registry index -> registry (stand-in layer): arm entries wrapped, amd64 + attestation kept, new index pushed', async (t) => {
  const rep = await runWrap(req(`${reg.host}/base/busybox:multi`, [`${reg.host}/wrapped/busybox:multi`]), deps());
  const idx = await inspect(`${reg.host}/wrapped/busybox:multi`, true);
  const base = await inspect(`${reg.host}/base/busybox:multi`, true);
  t.is(idx.manifests.length, 5);
  t.deepEqual(rep.platforms.map((p) => p.action), ['wrapped', 'wrapped', 'wrapped', 'kept', 'kept']);
  t.deepEqual(idx.manifests[3], base.manifests[3]);
  for (const i of [0, 1, 2]) {
    const child = await inspect(`${reg.host}/wrapped/busybox@${idx.manifests[i].digest}`);
    t.is(child.Layers.length, 2);
    t.is(child.Architecture, base.manifests[i].platform.architecture);
  }
  // wrapping the same base again gives the same digest (deterministic, SOURCE_DATE_EPOCH default 0)
  const again = await runWrap(req(`${reg.host}/base/busybox:multi`, [`${reg.host}/wrapped/busybox:multi-again`]), deps());
  t.is(again.digest, rep.digest);
  t.deepEqual(again.outputs[0]!.blobs?.uploaded, 0);
});

test.serial('bad input against a registry: unknown tag, amd64-only base, unreachable host -> one-line XbuildErrors, nothing pushed', async (t) => {
  const e1 = await t.throwsAsync(runWrap(req(`${reg.host}/base/busybox:nope`, [`${reg.host}/wrapped/x:1`]), deps()), { instanceOf: XbuildError });
  t.is(e1!.code, 'NOT_FOUND'); t.notRegex(e1!.message, /\n/);
  const e2 = await t.throwsAsync(runWrap(req(`${reg.host}/base/busybox:amd64`, [`${reg.host}/wrapped/x:1`]), deps()), { instanceOf: XbuildError });
  t.is(e2!.code, 'UNSUPPORTED');
  const e3 = await t.throwsAsync(runWrap(req('127.0.0.1:1/base/busybox:armhf', [`${reg.host}/wrapped/x:1`]), deps()), { instanceOf: XbuildError });
  t.is(e3!.code, 'NETWORK');
  const c = new RegistryClient({ env: {} });
  t.is(await c.headManifest({ transport: 'registry', registry: reg.host, repository: 'wrapped/x', tag: '1' }), undefined);
  c.close();
});

test.serial('a corrupted base blob in the registry: DIGEST_MISMATCH when it is read (push to another registry path / save), nothing pushed or written', async (t) => {
  await run('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${f}/arm64`, `docker://${reg.host}/base/corrupt:arm64`]);
  const info = await inspect(`${reg.host}/base/corrupt:arm64`);
  const p = reg.blobDataPath(info.Layers[0]);
  const buf = await readFile(p); buf[200] = buf[200]! ^ 0xff; await writeFile(p, buf);
  // a push through another host name (no cross-host mount) must stream the blob and catch the corruption
  const proxy = await startFaultProxy(reg.url);
  t.teardown(() => proxy.stop());
  const e = await t.throwsAsync(runWrap(req(`${reg.host}/base/corrupt:arm64`, [`${proxy.host}/other/corrupt:arm64`]), deps()), { instanceOf: XbuildError });
  t.is(e!.code, 'DIGEST_MISMATCH');
  const c = new RegistryClient({ env: {} });
  t.is(await c.headManifest({ transport: 'registry', registry: reg.host, repository: 'other/corrupt', tag: 'arm64' }), undefined);
  c.close();
  const dir = await mkdtemp(join(tmpdir(), 'xbuild-wrap-reg-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const e2 = await t.throwsAsync(runWrap(req(`${reg.host}/base/corrupt:arm64`, [], { output: { type: 'oci', dest: join(dir, 'out') } }), deps()), { instanceOf: XbuildError });
  t.is(e2!.code, 'DIGEST_MISMATCH');
  t.deepEqual(await readdir(dir), []);
});

test.serial('fault injection (stand-in layer): resets mid-blob and 500/429 answers are retried and the right image is pushed; when wrap gives up, no manifest was pushed', async (t) => {
  const proxy: FaultProxy = await startFaultProxy(reg.url);
  t.teardown(() => proxy.stop());
  proxy.addFault({ method: 'GET', path: /\/blobs\/sha256:/, kind: 'reset', afterBytes: 5000, times: 2 });
  proxy.addFault({ method: 'PUT', path: /\/blobs\/uploads\//, kind: 'status', status: 500, times: 1 });
  proxy.addFault({ method: 'HEAD', path: /\/blobs\//, kind: 'status', status: 429, retryAfter: 0, times: 1 });
  // to a different repository through the proxy, not mountable (other/ has nothing): upload of every blob
  const rep = await runWrap(req(`${proxy.host}/base/busybox:armhf`, [`${proxy.host}/faulty/busybox:armhf`]), deps());
  t.true(proxy.requests.some((r) => r.fault?.startsWith('reset')));
  t.true(proxy.requests.some((r) => r.fault === 'status 500'));
  await runWrap(req(`${reg.host}/base/busybox:armhf`, [`${reg.host}/clean/busybox:armhf`]), deps());
  // same image except the base name (the proxy's host name) in the annotation and the io.xbuild.base.name label
  const a = await inspect(`${reg.host}/faulty/busybox:armhf`, true);
  const b = await inspect(`${reg.host}/clean/busybox:armhf`, true);
  t.deepEqual(a.layers, b.layers);
  const configWithoutBaseName = async (ref: string) => {
    const c = JSON.parse((await run('skopeo', ['inspect', '--config', '--tls-verify=false', `docker://${ref}`])).stdout);
    t.regex(c.config.Labels['io.xbuild.base.name'], /\/base\/busybox:armhf$/);
    delete c.config.Labels['io.xbuild.base.name'];
    return c;
  };
  t.deepEqual(await configWithoutBaseName(`${reg.host}/faulty/busybox:armhf`), await configWithoutBaseName(`${reg.host}/clean/busybox:armhf`));
  t.not(rep.digest, '');
  // gives up: every manifest PUT fails
  proxy.clearFaults();
  const seen = proxy.requests.length;
  proxy.addFault({ method: 'PUT', path: /\/manifests\//, kind: 'status', status: 500, times: Infinity });
  proxy.addFault({ method: 'PUT', path: /\/blobs\/uploads\//, kind: 'status', status: 503, times: Infinity });
  const e = await t.throwsAsync(runWrap(req(`${proxy.host}/base/busybox:armhf`, [`${proxy.host}/given-up/busybox:armhf`]), deps()), { instanceOf: XbuildError });
  t.true(e!.exitCode === 2);
  t.false(proxy.requests.slice(seen).some((r) => r.method === 'PUT' && /\/manifests\//.test(r.path) && r.status !== undefined && r.status < 300));
  const c = new RegistryClient({ env: {} });
  t.is(await c.headManifest({ transport: 'registry', registry: reg.host, repository: 'given-up/busybox', tag: 'armhf' }), undefined);
  c.close();
});

test.serial('token auth (distribution with a token realm): registry -> registry with cross-repository mount, credentials from DOCKER_CONFIG', async (t) => {
  const treg = await startRegistry({ auth: 'token' });
  t.teardown(() => treg.stop());
  await run('skopeo', ['copy', '-q', '--dest-tls-verify=false', '--dest-creds', `${treg.username}:${treg.password}`, `oci:${f}/arm64`, `docker://${treg.host}/base/busybox:arm64`]);
  const env = { DOCKER_CONFIG: treg.dockerConfig() };
  const rep = await runWrap(req(`${treg.host}/base/busybox:arm64`, [`${treg.host}/team/busybox:arm64-xbuild`], { env }), deps());
  t.deepEqual(rep.outputs[0]!.blobs, { mounted: 1, uploaded: 2, exists: 0 });
  const info = JSON.parse((await run('skopeo', ['inspect', '--tls-verify=false', '--creds', `${treg.username}:${treg.password}`, `docker://${treg.host}/team/busybox:arm64-xbuild`])).stdout);
  t.is(info.Layers.length, 2); t.is(info.Architecture, 'arm64');
  const e = await t.throwsAsync(runWrap(req(`${treg.host}/base/busybox:arm64`, [`${treg.host}/team/busybox:x`], { env: { DOCKER_CONFIG: treg.dockerConfig({ username: treg.username!, password: 'wrong' }) } }), deps()), { instanceOf: XbuildError });
  t.is(e!.code, 'UNAUTHORIZED'); t.notRegex(e!.message, /\n/);
});

test.serial('Docker v2 media types (stand-in layer): oci layout with Docker manifest -> registry; distribution accepts it and skopeo reads it', async (t) => {
  const rep = await runWrap(req(`oci:${f}/armhf-docker`, [`${reg.host}/docker-types/busybox:armhf`]), deps());
  const m = await inspect(`${reg.host}/docker-types/busybox:armhf`, true);
  t.is(m.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
  t.is(m.layers.length, 2);
  t.is(m.layers[1].mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
  t.is((await inspect(`${reg.host}/docker-types/busybox:armhf`)).Digest, rep.digest);
});

test.serial('docker-archive source (stand-in layer) -> registry: archive layers pushed as stored, result readable by skopeo', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'xbuild-wrap-reg-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await run('skopeo', ['copy', '-q', `oci:${f}/armhf`, `docker-archive:${join(dir, 'base.tar')}:fixture/armhf:1`]);
  const rep = await runWrap(req(`docker-archive:${join(dir, 'base.tar')}`, [`${reg.host}/from-archive/busybox:armhf`]), deps());
  const m = await inspect(`${reg.host}/from-archive/busybox:armhf`, true);
  t.is(m.layers.length, 2);
  const info = await inspect(`${reg.host}/from-archive/busybox:armhf`);
  t.is(info.Digest, rep.digest); t.is(info.Architecture, 'arm');
  const cfg = JSON.parse((await run('skopeo', ['inspect', '--config', '--tls-verify=false', `docker://${reg.host}/from-archive/busybox:armhf`])).stdout);
  t.is(cfg.rootfs.diff_ids.length, 2);
});
