// Registries on loopback that speak TLS (a local registry with a certificate,
// a port-forward to an in-cluster registry): Debian's docker-registry on
// 127.0.0.1 with a self-signed certificate made by openssl. HTTPS is tried
// first and verified (system trust + NODE_EXTRA_CA_CERTS); --insecure-registry
// skips verification; a registry without TLS is still reached over plain HTTP.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import net from 'node:net';
import { runCli } from '../src/cli/run.ts';
import { RegistryClient } from '../src/registry/client.ts';
import { parseRegistryReference } from '../src/oci/reference.ts';
import type { XbuildError } from '../src/errors.ts';
import { trustedCertificates } from '../src/registry/trust.ts';
import { capture } from './helpers/capture.ts';
import { startRegistry, type TestRegistry } from './helpers/registry.ts';
import { startFaultProxy } from './helpers/fault-proxy.ts';
import { smallImages } from './helpers/small-images.ts';
import { wrapEmulatorDir } from './helpers/wrap-emulator.ts';

const run = promisify(execFile);
let tls: TestRegistry;
let plain: TestRegistry;
let qemuDir: string;
const cleanups: (() => Promise<void>)[] = [];

async function skopeoCopy(src: string, dst: string): Promise<void> {
  await run('skopeo', ['--insecure-policy', 'copy', '--dest-tls-verify=false', src, dst], { env: { PATH: '/usr/bin:/bin', HOME: tmpdir() } });
}

test.before(async () => {
  [tls, plain] = await Promise.all([startRegistry({ tls: true }), startRegistry()]);
  const images = await smallImages();
  await skopeoCopy(`oci:${join(images, 'armhf')}`, `docker://${tls.host}/base/armhf:1`);
  await skopeoCopy(`oci:${join(images, 'armhf')}`, `docker://${plain.host}/base/armhf:1`);
  qemuDir = await wrapEmulatorDir('arm', (f) => cleanups.push(f));
});
test.after.always(async () => {
  await Promise.all([tls?.stop(), plain?.stop()]);
  for (const f of cleanups) await f();
});

async function xbuild(args: string[], env: Record<string, string | undefined> = {}) {
  const c = capture();
  const home = await mkdtemp(join(tmpdir(), 'xbuild-tls-home-'));
  cleanups.push(() => rm(home, { recursive: true, force: true }));
  c.ctx.env = { HOME: home, XBUILD_CACHE_DIR: process.env.XBUILD_CACHE_DIR ?? join(process.env.HOME ?? '/root', '.cache', 'xbuild'), PATH: process.env.PATH, ...env };
  const code = await runCli([...args, '-q'], c.ctx);
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

test.serial('TLS registry on 127.0.0.1 trusted through NODE_EXTRA_CA_CERTS: wrap pulls and pushes over HTTPS, verify passes', async (t) => {
  const env = { NODE_EXTRA_CA_CERTS: tls.caFile };
  const w = await xbuild(['wrap', `${tls.host}/base/armhf:1`, '-t', `${tls.host}/wrapped/armhf:1`, '--qemu-dir', qemuDir], env);
  t.is(w.code, 0, w.stderr);
  const v = await xbuild(['verify', '--json', `${tls.host}/wrapped/armhf:1`], env);
  t.is(v.code, 0, v.stderr);
  t.is(JSON.parse(v.stdout).platforms[0].platform, 'linux/arm/v7');
  // the registry only speaks TLS: a plain-HTTP client gets a 400 (what xbuild did before)
  const plainHttp = await fetch(`http://${tls.host}/v2/`).then((r) => r.status);
  t.is(plainHttp, 400);
});

test.serial('TLS registry on 127.0.0.1 without trust: one line naming the untrusted certificate, a hint, exit 2, nothing pushed', async (t) => {
  for (const args of [['verify', `${tls.host}/base/armhf:1`], ['wrap', `${tls.host}/base/armhf:1`, '-t', `${tls.host}/wrapped/untrusted:1`, '--qemu-dir', qemuDir]]) {
    const r = await xbuild(args);
    t.is(r.code, 2, args[0]);
    const lines = r.stderr.trim().split('\n');
    t.is(lines.length, 2, r.stderr);
    t.regex(lines[0]!, new RegExp(`^xbuild: .*TLS certificate of ${tls.host.replace(/\./g, '\\.')} is not trusted \\(.*(self[- ]signed|UNABLE_TO_VERIFY|DEPTH_ZERO).*\\)`, 'i'));
    t.regex(lines[1]!, /^hint: trust its CA \(add it to the system's CA bundle, or point NODE_EXTRA_CA_CERTS at its PEM file\), or pass --insecure-registry 127\.0\.0\.1:\d+ to skip verification$/);
  }
  const tags = await fetch(`${tls.url}/v2/wrapped/untrusted/tags/list`, {}).catch(() => undefined);
  t.not(tags?.status, 200);
});

test.serial('TLS registry with --insecure-registry: HTTPS without verification', async (t) => {
  const r = await xbuild(['verify', '--json', '--insecure-registry', tls.host, `${tls.host}/base/armhf:1`]);
  t.is(r.code, 1, r.stderr); // read fine; the plain base has findings (no emulator)
  t.is(JSON.parse(r.stdout).platforms[0].platform, 'linux/arm/v7');
});

test.serial('plain-HTTP registry on 127.0.0.1 keeps working (TLS tried first, then HTTP), for wrap and verify', async (t) => {
  const w = await xbuild(['wrap', `${plain.host}/base/armhf:1`, '-t', `${plain.host}/wrapped/armhf:1`, '--qemu-dir', qemuDir]);
  t.is(w.code, 0, w.stderr);
  const started = Date.now();
  const v = await xbuild(['verify', `${plain.host}/wrapped/armhf:1`]);
  t.is(v.code, 0, v.stderr);
  t.log(`verify over plain HTTP took ${Date.now() - started} ms`);
});

test.serial('the bundled bin honours NODE_EXTRA_CA_CERTS from its own environment', async (t) => {
  const env = { PATH: '/usr/bin:/bin', HOME: tmpdir(), NODE_EXTRA_CA_CERTS: tls.caFile! };
  const { stdout } = await run(process.execPath, ['bin/xbuild.mjs', 'verify', '--json', '-q', `${tls.host}/wrapped/armhf:1`], { env });
  t.true(JSON.parse(stdout).passed);
  const err = await t.throwsAsync(run(process.execPath, ['bin/xbuild.mjs', 'verify', '-q', `${tls.host}/wrapped/armhf:1`], { env: { ...env, NODE_EXTRA_CA_CERTS: '' } })) as Error & { code?: number; stderr?: string };
  t.is(err.code, 2);
  t.regex(err.stderr ?? '', /is not trusted/);
});

test.serial('the system CA bundle is trusted too (SSL_CERT_FILE names it, as for Go and OpenSSL); the default bundle still carries the public roots', async (t) => {
  const r = await xbuild(['verify', '--json', `${tls.host}/wrapped/armhf:1`], { SSL_CERT_FILE: tls.caFile });
  t.is(r.code, 0, r.stderr);
  const { ca, files } = trustedCertificates({});
  t.true(ca.length >= rootCertificates.length);
  t.log(`system bundle: ${files.join(', ') || 'none found'}`);
});

test.serial('a loopback server that never answers a TLS ClientHello (it waits for an HTTP request line) is reached over HTTP within the connect timeout', async (t) => {
  const server = net.createServer((sock) => {
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (!buf.includes('\r\n\r\n')) return; // a TLS ClientHello never completes a request: silence
      const path = buf.split(' ')[1];
      sock.end(path === '/v2/' ? 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}' : 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const c = new RegistryClient({ env: {}, retry: { attempts: 1 }, connectTimeoutMs: 1000, idleTimeoutMs: 60_000 });
  t.teardown(() => c.close());
  const started = Date.now();
  const err = await t.throwsAsync(c.getManifest(parseRegistryReference(`${host}/silent/tls:1`)));
  t.is((err as XbuildError).code, 'NOT_FOUND', err!.message); // the manifest GET went over HTTP
  t.true(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
});

test.serial('a blob redirect to an HTTPS host whose certificate is not trusted: the error names the redirect target (not the registry) and says what to do', async (t) => {
  const front = await startFaultProxy(plain.url);
  t.teardown(() => front.stop());
  front.addFault({ method: 'GET', path: /\/blobs\/sha256:/, kind: 'redirect', to: tls.url, times: Infinity });
  const out = await mkdtemp(join(tmpdir(), 'xbuild-tls-redirect-'));
  cleanups.push(() => rm(out, { recursive: true, force: true }));
  const w = await xbuild(['wrap', `${front.host}/base/armhf:1`, '--output', `type=oci,dest=${join(out, 'o')}`, '--qemu-dir', qemuDir]);
  t.is(w.code, 2, w.stderr);
  const lines = w.stderr.trimEnd().split('\n').filter((l) => /^(xbuild|hint): /.test(l));
  t.is(lines.length, 2, w.stderr);
  t.regex(lines[0]!, new RegExp(`TLS certificate of ${tls.host.replace(/\./g, '\\.')} \\(where ${front.host.replace(/\./g, '\\.')} redirected\\) is not trusted`));
  t.regex(lines[1]!, new RegExp(`^hint: ${front.host.replace(/\./g, '\\.')} redirects to ${tls.host.replace(/\./g, '\\.')}: trust that host's CA .*NODE_EXTRA_CA_CERTS.*, or pass --insecure-registry ${tls.host.replace(/\./g, '\\.')} to skip verification there$`));
  const ok = await xbuild(['wrap', `${front.host}/base/armhf:1`, '--output', `type=oci,dest=${join(out, 'o2')}`, '--qemu-dir', qemuDir, '--insecure-registry', tls.host]);
  t.is(ok.code, 0, `the hint's --insecure-registry covers the redirect target: ${ok.stderr}`);
});
