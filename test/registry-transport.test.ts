// Scheme selection (loopback = plain HTTP; others HTTPS unless
// --insecure-registry), the "HTTP response to HTTPS client" hint, untrusted
// certificates, unreachable hosts, and the error model (status, OCI codes,
// redacted URLs, retryable).
import test from 'ava';
import net, { type LookupFunction } from 'node:net';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { RegistryClient } from '../src/registry/client.ts';
import { isLoopbackHost } from '../src/registry/transport.ts';
import { redactUrl, classifyStatus, httpError, parseRetryAfter, parseOciErrors } from '../src/registry/errors.ts';
import { parseRegistryReference } from '../src/oci/reference.ts';
import { XbuildError } from '../src/errors.ts';
import { startRegistry, freePort, type TestRegistry } from './helpers/registry.ts';

// Made-up names resolve to 127.0.0.1 (no DNS traffic leaves the machine); "nx.test" does not resolve.
const lookup = ((hostname: string, options: unknown, cb: unknown) => {
  const callback = (typeof options === 'function' ? options : cb) as (err: NodeJS.ErrnoException | null, address: string | Array<{ address: string; family: number }>, family?: number) => void;
  const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all;
  if (hostname === 'nx.test') {
    callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), all ? [] : '', 4);
    return;
  }
  if (all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
  else callback(null, '127.0.0.1', 4);
}) as LookupFunction;

const FAST = { attempts: 2, baseDelayMs: 5, maxDelayMs: 10 };
let plain: TestRegistry;
let tls: TestRegistry;
test.before(async () => {
  [plain, tls] = await Promise.all([startRegistry(), startRegistry({ tls: true })]);
});
test.after.always(async () => { await plain?.stop(); await tls?.stop(); });

test('loopback hosts are recognised', (t) => {
  for (const h of ['localhost', 'localhost:5000', '127.0.0.1', '127.3.2.1:80', '[::1]:5000', '[::1]']) t.true(isLoopbackHost(h), h);
  for (const h of ['registry.test:5000', '10.0.0.1', 'docker.io', '128.0.0.1']) t.false(isLoopbackHost(h), h);
});

test('a loopback registry is spoken to over plain HTTP (127.0.0.1 and localhost)', async (t) => {
  const c = new RegistryClient({ env: {}, retry: FAST });
  t.teardown(() => c.close());
  t.is(await c.headManifest(parseRegistryReference(`${plain.host}/a/b:c`)), undefined);
  t.is(await c.headManifest(parseRegistryReference(`localhost:${plain.port}/a/b:c`)), undefined);
});

test('a non-loopback registry answering plain HTTP: one-line NETWORK error with the --insecure-registry hint', async (t) => {
  const host = `registry.test:${plain.port}`;
  const c = new RegistryClient({ env: {}, retry: FAST, lookup });
  t.teardown(() => c.close());
  const err = await t.throwsAsync(c.getManifest(parseRegistryReference(`${host}/a/b:c`)), { instanceOf: XbuildError });
  t.is(err!.code, 'NETWORK');
  t.regex(err!.message, /HTTP response to HTTPS client/);
  t.is(err!.hint, `this registry speaks plain HTTP; pass --insecure-registry ${host}`);
  t.false(err!.message.includes('\n'));
  const ok = new RegistryClient({ env: {}, retry: FAST, lookup, insecureRegistries: [host] });
  t.teardown(() => ok.close());
  const e2 = await t.throwsAsync(ok.getManifest(parseRegistryReference(`${host}/a/b:c`)), { instanceOf: XbuildError });
  t.is(e2!.code, 'NOT_FOUND', 'with --insecure-registry the plain-HTTP registry is reached');
});

test('HTTPS with an untrusted certificate fails with a hint; --insecure-registry accepts it', async (t) => {
  const host = `registry.test:${tls.port}`;
  const c = new RegistryClient({ env: {}, retry: FAST, lookup });
  t.teardown(() => c.close());
  const err = await t.throwsAsync(c.headManifest(parseRegistryReference(`${host}/a/b:c`)), { instanceOf: XbuildError });
  t.is(err!.code, 'NETWORK');
  t.regex(err!.message, /TLS certificate of registry\.test:\d+ is not trusted/);
  t.regex(err!.hint!, /--insecure-registry registry\.test:\d+/);
  const ok = new RegistryClient({ env: {}, retry: FAST, lookup, insecureRegistries: ['registry.test'] });
  t.teardown(() => ok.close());
  t.is(await ok.headManifest(parseRegistryReference(`${host}/a/b:c`)), undefined);
});

test('unreachable hosts: one-line NETWORK errors naming the host', async (t) => {
  const port = await freePort();
  const c = new RegistryClient({ env: {}, retry: FAST, lookup });
  t.teardown(() => c.close());
  const err = await t.throwsAsync(c.getManifest(parseRegistryReference(`127.0.0.1:${port}/a/b:c`)), { instanceOf: XbuildError });
  t.is(err!.code, 'NETWORK');
  t.regex(err!.message, new RegExp(`cannot reach 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.*\\(gave up after 2 attempts\\)$`));
  t.false(err!.message.includes('\n'));
  const e2 = await t.throwsAsync(c.getManifest(parseRegistryReference('nx.test/a/b:c')), { instanceOf: XbuildError });
  t.is(e2!.code, 'NETWORK');
  t.is(e2!.message, 'connecting to registry nx.test: cannot resolve registry host nx.test (ENOTFOUND)');
});

test('redactUrl drops credentials and secret query values, keeps digest/mount/from/scope', (t) => {
  t.is(redactUrl('https://user:pw@r.example.com/v2/a/blobs/uploads/123?_state=SECRET&digest=sha256:ab&mount=sha256:cd&from=x/y'),
    'https://r.example.com/v2/a/blobs/uploads/123?_state=REDACTED&digest=sha256%3Aab&mount=sha256%3Acd&from=x%2Fy');
  t.is(redactUrl('https://auth.example.com/token?service=s&scope=repository:a:pull&account=me&access_token=T'),
    'https://auth.example.com/token?service=s&scope=repository%3Aa%3Apull&account=REDACTED&access_token=REDACTED');
});

test('status and OCI error codes map to XbuildError codes with retryable', (t) => {
  const oci = (code: string) => [{ code }];
  const table: Array<[number, string | undefined, string, boolean]> = [
    [404, 'MANIFEST_UNKNOWN', 'NOT_FOUND', false],
    [404, 'NAME_UNKNOWN', 'NOT_FOUND', false],
    [404, 'BLOB_UNKNOWN', 'NOT_FOUND', false],
    [404, undefined, 'NOT_FOUND', false],
    [401, 'UNAUTHORIZED', 'UNAUTHORIZED', false],
    [403, 'DENIED', 'DENIED', false],
    [400, 'DIGEST_INVALID', 'DIGEST_MISMATCH', false],
    [400, 'MANIFEST_INVALID', 'REGISTRY', false],
    [429, 'TOOMANYREQUESTS', 'REGISTRY', true],
    [500, undefined, 'REGISTRY', true],
    [502, undefined, 'REGISTRY', true],
    [503, 'UNAVAILABLE', 'REGISTRY', true],
    [405, 'UNSUPPORTED', 'REGISTRY', false],
  ];
  for (const [status, code, want, retryable] of table) {
    t.deepEqual(classifyStatus(status, code ? oci(code) : []), { code: want, retryable }, `${status} ${code}`);
  }
});

test('httpError keeps status, method, redacted URL, OCI errors and Retry-After', (t) => {
  const body = Buffer.from(JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }));
  const e = httpError('pulling x', 'GET', 'https://u:p@r.example.com/v2/a/manifests/t?_state=S', 429, { 'retry-after': '7' }, body);
  t.is(e.code, 'REGISTRY');
  t.true(e.retryable);
  t.is(e.status, 429);
  t.is(e.method, 'GET');
  t.is(e.url, 'https://r.example.com/v2/a/manifests/t?_state=REDACTED');
  t.deepEqual(e.ociErrors, [{ code: 'TOOMANYREQUESTS', message: 'slow down', detail: undefined }]);
  t.is(e.retryAfterMs, 7000);
  t.is(e.message, 'pulling x: 429 Too Many Requests (TOOMANYREQUESTS: slow down) [GET https://r.example.com/v2/a/manifests/t?_state=REDACTED]');
  t.is(parseRetryAfter(new Date(Date.now() + 5000).toUTCString())! > 3000, true);
  t.is(parseRetryAfter('soon'), undefined);
  t.deepEqual(parseOciErrors('<html>'), []);
});

test('a host that never completes the TCP handshake fails after the connect timeout', async (t) => {
  // A listener whose accept queue is full: the kernel leaves further SYNs unanswered.
  const py = spawn('python3', ['-c', 'import socket,time,sys\ns=socket.socket();s.bind(("127.0.0.1",0));s.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { py.kill(); });
  const [line] = await once(py.stdout!, 'data') as [Buffer];
  const port = Number(line.toString().trim());
  const fillers = [net.connect(port, '127.0.0.1'), net.connect(port, '127.0.0.1')];
  for (const f of fillers) f.on('error', () => {});
  t.teardown(() => { for (const f of fillers) f.destroy(); });
  await once(fillers[0]!, 'connect');
  const c = new RegistryClient({ env: {}, retry: FAST, connectTimeoutMs: 300 });
  t.teardown(() => c.close());
  const start = Date.now();
  const err = await t.throwsAsync(c.headManifest(parseRegistryReference(`127.0.0.1:${port}/a/b:c`)), { instanceOf: XbuildError });
  t.is(err!.code, 'NETWORK');
  t.regex(err!.message, new RegExp(`cannot reach 127\\.0\\.0\\.1:${port}: ETIMEDOUT connection not established within 300 ms \\(gave up after 2 attempts\\)`));
  t.true(Date.now() - start < 5000);
});
