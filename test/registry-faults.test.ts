// Transient failures are retried (mid-blob resets resume with Range, 500, 429
// with Retry-After); when attempts run out the error says so; permanent ones
// fail at once. A fault-injecting proxy sits in front of a real docker-registry.
import test from 'ava';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { RegistryClient } from '../src/registry/client.ts';
import { OCI_IMAGE_MANIFEST } from '../src/oci/media-types.ts';
import { sha256Digest } from '../src/oci/digest.ts';
import { parseRegistryReference } from '../src/oci/reference.ts';
import { XbuildError } from '../src/errors.ts';
import type { Descriptor } from '../src/oci/model.ts';
import { startRegistry, type TestRegistry } from './helpers/registry.ts';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.ts';

const RETRY = { attempts: 4, baseDelayMs: 10, maxDelayMs: 40 };
let reg: TestRegistry;
let proxy: FaultProxy;
const data = randomBytes(300_000);
const desc: Descriptor = { mediaType: 'application/octet-stream', digest: sha256Digest(data), size: data.length };
const cfg = Buffer.from('{"architecture":"arm","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
const cfgDesc: Descriptor = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256Digest(cfg), size: cfg.length };
const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_IMAGE_MANIFEST, config: cfgDesc, layers: [{ ...desc, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }] }));

test.before(async () => {
  reg = await startRegistry({ auth: 'none' });
  proxy = await startFaultProxy(reg.url);
  const c = new RegistryClient({ env: {} });
  const repo = { registry: reg.host, repository: 'faults/app' };
  await c.pushBlob(repo, desc, async () => Readable.from([data]));
  await c.pushBlob(repo, cfgDesc, async () => Readable.from([cfg]));
  await c.putManifest(parseRegistryReference(`${reg.host}/faults/app:v1`), OCI_IMAGE_MANIFEST, manifest);
  c.close();
});
test.after.always(async () => { await proxy?.stop(); await reg?.stop(); });
test.afterEach.always(() => { proxy.clearFaults(); proxy.requests.length = 0; });

const viaProxy = () => ({ registry: proxy.host, repository: 'faults/app' });
async function readAll(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

test.serial('connections reset mid-blob are resumed with Range requests and the blob still verifies', async (t) => {
  const logs: string[] = [];
  const c = new RegistryClient({ env: {}, retry: RETRY, onProgress: (e) => { if (e.kind === 'log') logs.push(e.message); } });
  t.teardown(() => c.close());
  proxy.addFault({ method: 'GET', path: /\/blobs\/sha256:/, kind: 'reset', afterBytes: 70_000, times: 3 });
  const got = await readAll(await c.getBlob(viaProxy(), desc));
  t.true(got.equals(data));
  const gets = proxy.requests.filter((r) => r.method === 'GET' && r.path.includes('/blobs/'));
  t.is(gets.length, 4);
  t.is(gets[0]!.range, undefined);
  t.deepEqual(gets.slice(1).map((r) => r.range), ['bytes=70000-', 'bytes=140000-', 'bytes=210000-']);
  t.is(logs.length, 3);
  t.regex(logs[0]!, /retrying/);
});

test.serial('a registry that ignores Range: the blob is re-read from the start and the known part skipped', async (t) => {
  const p2 = await startFaultProxy(reg.url, { ignoreRange: true });
  t.teardown(() => p2.stop());
  const c = new RegistryClient({ env: {}, retry: RETRY });
  t.teardown(() => c.close());
  p2.addFault({ method: 'GET', path: /\/blobs\/sha256:/, kind: 'reset', afterBytes: 100_000, times: 2 });
  const got = await readAll(await c.getBlob({ registry: p2.host, repository: 'faults/app' }, desc));
  t.true(got.equals(data));
  t.deepEqual(p2.requests.filter((r) => r.path.includes('/blobs/')).map((r) => r.status), [200, 200, 200]);
});

test.serial('blob redirects (to storage on another origin) are followed, resets there resumed', async (t) => {
  const c = new RegistryClient({ env: {}, retry: RETRY });
  t.teardown(() => c.close());
  const storage = await startFaultProxy(reg.url);
  t.teardown(() => storage.stop());
  proxy.addFault({ method: 'GET', path: /\/blobs\/sha256:/, kind: 'redirect', to: storage.url, times: Infinity });
  storage.addFault({ method: 'GET', kind: 'reset', afterBytes: 50_000, times: 1 });
  const got = await readAll(await c.getBlob(viaProxy(), desc));
  t.true(got.equals(data));
  t.deepEqual(storage.requests.map((r) => r.range), [undefined, 'bytes=50000-']);
  t.is(proxy.requests.filter((r) => r.status === 307).length, 2);
});

test.serial('credentials are not sent to a redirect target on another origin', async (t) => {
  const secured = await startRegistry({ auth: 'token' });
  t.teardown(() => secured.stop());
  const front = await startFaultProxy(secured.url);
  t.teardown(() => front.stop());
  const storage = await startFaultProxy(reg.url); // the anonymous registry holds the same blob
  t.teardown(() => storage.stop());
  const c = new RegistryClient({ env: { DOCKER_CONFIG: secured.dockerConfig() }, retry: RETRY });
  t.teardown(() => c.close());
  front.addFault({ method: 'GET', path: /\/blobs\/sha256:/, kind: 'redirect', to: storage.url, times: 1 });
  const got = await readAll(await c.getBlob({ registry: front.host, repository: 'faults/app' }, desc));
  t.true(got.equals(data));
  t.true(front.requests.some((r) => r.status === 307 && r.authorization), 'the registry itself got the token');
  t.deepEqual(storage.requests.map((r) => r.authorization ?? false), [false]);
});

test.serial('a Retry-After longer than a minute fails at once and says how long to wait', async (t) => {
  const c = new RegistryClient({ env: {}, retry: RETRY });
  t.teardown(() => c.close());
  proxy.addFault({ method: 'GET', path: /\/manifests\//, kind: 'status', status: 429, retryAfter: 3600, times: 1 });
  const err = await t.throwsAsync(c.getManifest(parseRegistryReference(`${proxy.host}/faults/app:v1`)), { instanceOf: XbuildError });
  t.is(err!.code, 'REGISTRY');
  t.regex(err!.message, /429 Too Many Requests .*\(gave up after 1 attempt: the registry asks to wait 3600 s before retrying\)$/);
});

test.serial('a reset before any answer, 500 and 429 with Retry-After are retried; Retry-After is honoured', async (t) => {
  const c = new RegistryClient({ env: {}, retry: RETRY });
  t.teardown(() => c.close());
  proxy.addFault({ method: 'GET', path: /\/manifests\//, kind: 'reset', afterBytes: 0, times: 1 });
  proxy.addFault({ method: 'GET', path: /\/manifests\//, kind: 'status', status: 500, times: 1 });
  proxy.addFault({ method: 'GET', path: /\/manifests\//, kind: 'status', status: 429, retryAfter: 1, times: 1 });
  const start = Date.now();
  const m = await c.getManifest(parseRegistryReference(`${proxy.host}/faults/app:v1`));
  t.true(m.body.equals(manifest));
  t.true(Date.now() - start >= 1000, 'waited for Retry-After: 1');
  t.deepEqual(proxy.requests.filter((r) => r.path.includes('/manifests/')).map((r) => r.fault ?? r.status), ['reset before response', 'status 500', 'status 429', 200]);
});

test.serial('a cross-repository mount the registry refuses (403) falls back to an upload, as go-containerregistry does', async (t) => {
  const logs: string[] = [];
  const c = new RegistryClient({ env: {}, retry: RETRY, onProgress: (e) => { if (e.kind === 'log') logs.push(e.message); } });
  t.teardown(() => c.close());
  const repo = { registry: proxy.host, repository: 'faults/mount-refused' };
  proxy.addFault({ method: 'POST', path: /[?&]mount=/, kind: 'status', status: 403, times: 1 });
  t.is(await c.pushBlob(repo, desc, async () => Readable.from([data]), { mountFrom: viaProxy() }), 'uploaded');
  const posts = proxy.requests.filter((r) => r.method === 'POST');
  t.deepEqual(posts.map((r) => [r.path.includes('mount='), r.fault ?? r.status]), [[true, 'status 403'], [false, 202]]);
  t.true(logs.some((l) => /mount from faults\/app.*uploading the blob instead/.test(l)), logs.join('\n'));
  t.true(await c.hasBlob({ registry: reg.host, repository: 'faults/mount-refused' }, desc.digest));
});

test.serial('a chunk reset before reaching the registry is resent in the same session; a 503 on the manifest PUT is retried', async (t) => {
  const c = new RegistryClient({ env: {}, retry: RETRY, monolithicMaxBytes: 50_000, chunkBytes: 64 * 1024 });
  t.teardown(() => c.close());
  const repo = { registry: proxy.host, repository: 'faults/upload' };
  proxy.addFault({ method: 'PATCH', kind: 'reset', afterBytes: 0, times: 1 });
  proxy.addFault({ method: 'PUT', path: /\/manifests\//, kind: 'status', status: 503, times: 1 });
  t.is(await c.pushBlob(repo, desc, async () => Readable.from([data])), 'uploaded');
  t.is(await c.pushBlob(repo, cfgDesc, async () => Readable.from([cfg])), 'uploaded');
  t.is(await c.putManifest(parseRegistryReference(`${proxy.host}/faults/upload:v1`), OCI_IMAGE_MANIFEST, manifest), sha256Digest(manifest));
  t.is(proxy.requests.filter((r) => r.method === 'PUT' && r.path.includes('/manifests/')).length, 2);
  t.is(proxy.requests.filter((r) => r.method === 'PATCH').length, 6, 'chunked: 5 chunks + the reset one');
  t.is(proxy.requests.filter((r) => r.method === 'POST').length, 2, 'the reset chunk was resent in the same upload session (one POST per blob)');
  t.true(proxy.requests.some((r) => r.method === 'GET' && r.path.includes('/blobs/uploads/')), 'upload status was asked');
  t.true(await c.hasBlob({ registry: reg.host, repository: 'faults/upload' }, desc.digest));
});

// distribution encodes the offset in the upload Location (_state) and cancels a
// session asked about with a stale one, so a chunk that landed without an answer
// means a new session; a chunk that never reached it is resent in the same one
// (previous test).
test.serial('a chunk whose answer was lost: a new upload session; a lost commit is found by HEAD', async (t) => {
  const c = new RegistryClient({ env: {}, retry: RETRY, monolithicMaxBytes: 50_000, chunkBytes: 100_000 });
  t.teardown(() => c.close());
  const repo = { registry: proxy.host, repository: 'faults/resume' };
  proxy.addFault({ method: 'PATCH', kind: 'lose-response', times: 1 });
  t.is(await c.pushBlob(repo, desc, async () => Readable.from([data])), 'uploaded');
  const patches = proxy.requests.filter((r) => r.method === 'PATCH');
  t.is(patches.length, 4, '3 chunks of 100 kB + the one whose answer was lost');
  t.is(patches[0]!.fault, 'response lost');
  t.is(proxy.requests.filter((r) => r.method === 'POST').length, 2);
  t.true(await c.hasBlob({ registry: reg.host, repository: 'faults/resume' }, desc.digest));

  // the final PUT commits but its answer is lost: the retry finds the blob with HEAD instead of uploading again
  proxy.requests.length = 0;
  const other = Buffer.from(data); other[0] = other[0]! ^ 1;
  const otherDesc = { ...desc, digest: sha256Digest(other) };
  proxy.addFault({ method: 'PUT', path: /\/blobs\/uploads\//, kind: 'lose-response', times: 1 });
  t.is(await c.pushBlob({ registry: proxy.host, repository: 'faults/resume2' }, otherDesc, async () => Readable.from([other])), 'uploaded');
  t.is(proxy.requests.filter((r) => r.method === 'POST').length, 1, 'no second upload session');
  t.is(proxy.requests.filter((r) => r.method === 'HEAD').length, 2);
});

test.serial('when retries are exhausted the error says so and keeps its code', async (t) => {
  const c = new RegistryClient({ env: {}, retry: RETRY });
  t.teardown(() => c.close());
  proxy.addFault({ method: 'GET', path: /\/manifests\//, kind: 'status', status: 503, times: Infinity });
  const err = await t.throwsAsync(c.getManifest(parseRegistryReference(`${proxy.host}/faults/app:v1`)), { instanceOf: XbuildError });
  t.is(err!.code, 'REGISTRY');
  t.regex(err!.message, /503 Service Unavailable .*\(gave up after 4 attempts\)$/);
  t.is(proxy.requests.filter((r) => r.path.includes('/manifests/')).length, 4);

  proxy.clearFaults();
  proxy.addFault({ method: 'GET', path: /\/blobs\/sha256:/, kind: 'reset', afterBytes: 1000, times: Infinity });
  const stream = await c.getBlob(viaProxy(), desc);
  const e2 = await t.throwsAsync(readAll(stream), { instanceOf: XbuildError });
  t.is(e2!.code, 'NETWORK');
  t.regex(e2!.message, /gave up after 4 attempts/);
});

test.serial('permanent failures are not retried', async (t) => {
  const c = new RegistryClient({ env: {}, retry: RETRY });
  t.teardown(() => c.close());
  proxy.addFault({ method: 'GET', path: /\/manifests\//, kind: 'status', status: 403, times: Infinity });
  const err = await t.throwsAsync(c.getManifest(parseRegistryReference(`${proxy.host}/faults/app:v1`)), { instanceOf: XbuildError });
  t.is(err!.code, 'DENIED');
  t.is(proxy.requests.filter((r) => r.path.includes('/manifests/')).length, 1);
  proxy.clearFaults();
  const e2 = await t.throwsAsync(c.getManifest(parseRegistryReference(`${proxy.host}/faults/none:v1`)), { instanceOf: XbuildError });
  t.is(e2!.code, 'NOT_FOUND');
  t.is(proxy.requests.filter((r) => r.path.includes('/faults/none/')).length, 1);
});
