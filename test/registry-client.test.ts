// RegistryClient against a real docker-registry (CNCF distribution) in all
// three auth modes: anonymous, htpasswd Basic, token (Bearer).
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { writeFileSync, readFileSync } from 'node:fs';
import { RegistryClient } from '../src/registry/client.ts';
import { OCI_IMAGE_MANIFEST } from '../src/oci/media-types.ts';
import { sha256Digest } from '../src/oci/digest.ts';
import { parseRegistryReference } from '../src/oci/reference.ts';
import { XbuildError } from '../src/errors.ts';
import type { Descriptor } from '../src/oci/model.ts';
import type { ProgressEvent } from '../src/progress.ts';
import { startRegistry, type TestRegistry } from './helpers/registry.ts';

const FAST_RETRY = { attempts: 3, baseDelayMs: 10, maxDelayMs: 50 };

export function blob(size: number, mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip'): { data: Buffer; desc: Descriptor } {
  const data = randomBytes(size);
  return { data, desc: { mediaType, digest: sha256Digest(data), size } };
}

export function imageOf(layers: Descriptor[]): { config: { data: Buffer; desc: Descriptor }; manifest: Buffer } {
  const cfg = Buffer.from(JSON.stringify({ architecture: 'arm', variant: 'v7', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } }));
  const config = { data: cfg, desc: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256Digest(cfg), size: cfg.length } };
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_IMAGE_MANIFEST, config: config.desc, layers }));
  return { config, manifest };
}

const opener = (b: Buffer) => async () => Readable.from([b.subarray(0, Math.floor(b.length / 3)), b.subarray(Math.floor(b.length / 3))]);

async function readAll(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

for (const auth of ['none', 'htpasswd', 'token'] as const) {
  let reg: TestRegistry;
  let env: Record<string, string>;
  test.before(async () => {
    reg = await startRegistry({ auth });
    env = { DOCKER_CONFIG: reg.dockerConfig(), PATH: '/usr/bin:/bin' };
  });
  test.after.always(async () => { await reg?.stop(); });

  test.serial(`[${auth}] push blobs (monolithic and chunked) and a manifest, pull them back`, async (t) => {
    const events: ProgressEvent[] = [];
    const c = new RegistryClient({ env, retry: FAST_RETRY, monolithicMaxBytes: 64 * 1024, chunkBytes: 40 * 1024, onProgress: (e) => events.push(e) });
    t.teardown(() => c.close());
    const repo = { registry: reg.host, repository: `xbuild/${auth}/app` };
    const small = blob(10_000);
    const big = blob(150_000); // 4 PATCH chunks
    t.false(await c.hasBlob(repo, small.desc.digest));
    t.is(await c.pushBlob(repo, small.desc, opener(small.data)), 'uploaded');
    t.is(await c.pushBlob(repo, big.desc, opener(big.data)), 'uploaded');
    t.is(await c.pushBlob(repo, small.desc, opener(small.data)), 'exists');
    t.true(await c.hasBlob(repo, big.desc.digest));
    const img = imageOf([small.desc, big.desc]);
    t.is(await c.pushBlob(repo, img.config.desc, opener(img.config.data)), 'uploaded');
    const ref = parseRegistryReference(`${reg.host}/xbuild/${auth}/app:v1`);
    t.is(await c.putManifest(ref, OCI_IMAGE_MANIFEST, img.manifest), sha256Digest(img.manifest));

    const m = await c.getManifest(ref);
    t.deepEqual(m, { mediaType: OCI_IMAGE_MANIFEST, digest: sha256Digest(img.manifest), body: img.manifest });
    const byDigest = await c.getManifest({ ...ref, tag: undefined, digest: m.digest });
    t.deepEqual(byDigest.body, img.manifest);
    t.deepEqual(await c.headManifest(ref), { mediaType: OCI_IMAGE_MANIFEST, digest: m.digest, size: img.manifest.length });
    t.deepEqual(await readAll(await c.getBlob(repo, big.desc)), big.data);
    t.deepEqual(await readAll(await c.getBlob(repo, small.desc)), small.data);
    t.true(events.some((e) => e.kind === 'done' && e.note === 'exists'));
    t.true(events.some((e) => e.kind === 'bytes' && e.id === big.desc.digest && e.done === big.desc.size));
  });

  test.serial(`[${auth}] cross-repository mount`, async (t) => {
    const c = new RegistryClient({ env, retry: FAST_RETRY });
    t.teardown(() => c.close());
    const src = { registry: reg.host, repository: `xbuild/${auth}/base` };
    const dst = { registry: reg.host, repository: `xbuild/${auth}/derived` };
    const b = blob(50_000);
    t.is(await c.pushBlob(src, b.desc, opener(b.data)), 'uploaded');
    let opened = 0;
    t.is(await c.pushBlob(dst, b.desc, async () => { opened++; return Readable.from([b.data]); }, { mountFrom: src }), 'mounted');
    t.is(opened, 0, 'a mounted blob is never read');
    t.true(await c.hasBlob(dst, b.desc.digest));
    if (auth === 'token') {
      const req = reg.tokenServer!.requests.find((r) => r.scopes.includes(`repository:${src.repository}:pull`) && r.scopes.includes(`repository:${dst.repository}:pull,push`));
      t.truthy(req, 'the mount token covers pull on the source and pull,push on the destination');
    }
  });

  test.serial(`[${auth}] unknown repository / tag / blob -> NOT_FOUND; headManifest -> undefined`, async (t) => {
    const c = new RegistryClient({ env, retry: FAST_RETRY });
    t.teardown(() => c.close());
    const err = await t.throwsAsync(c.getManifest(parseRegistryReference(`${reg.host}/no/such:tag`)), { instanceOf: XbuildError });
    t.is(err!.code, 'NOT_FOUND');
    t.false(err!.retryable);
    t.regex(err!.message, /getting manifest 127\.0\.0\.1:\d+\/no\/such:tag: 404 Not Found \((MANIFEST|NAME)_UNKNOWN/);
    t.false(err!.message.includes('\n'));
    t.regex(err!.hint!, /check the repository and tag/);
    t.is(await c.headManifest(parseRegistryReference(`${reg.host}/no/such:tag`)), undefined);
    const b = blob(10);
    const e2 = await t.throwsAsync(c.getBlob({ registry: reg.host, repository: `xbuild/${auth}/app` }, b.desc), { instanceOf: XbuildError });
    t.is(e2!.code, 'NOT_FOUND');
  });

  test.serial(`[${auth}] a corrupted blob in storage -> DIGEST_MISMATCH`, async (t) => {
    const c = new RegistryClient({ env, retry: FAST_RETRY });
    t.teardown(() => c.close());
    const repo = { registry: reg.host, repository: `xbuild/${auth}/corrupt` };
    const b = blob(20_000);
    await c.pushBlob(repo, b.desc, opener(b.data));
    const p = reg.blobDataPath(b.desc.digest);
    const bytes = readFileSync(p);
    bytes[100] = bytes[100]! ^ 0xff;
    writeFileSync(p, bytes);
    const stream = await c.getBlob(repo, b.desc);
    const err = await t.throwsAsync(readAll(stream), { instanceOf: XbuildError });
    t.is(err!.code, 'DIGEST_MISMATCH');
    t.false(err!.retryable);
    t.regex(err!.message, new RegExp(`blob ${b.desc.digest} of ${reg.host}/xbuild/${auth}/corrupt does not match its descriptor: digest sha256:[0-9a-f]{64}, expected ${b.desc.digest}`));
  });

  test.serial(`[${auth}] a manifest fetched by digest that does not match -> DIGEST_MISMATCH; uploads whose source differs fail`, async (t) => {
    const c = new RegistryClient({ env, retry: FAST_RETRY });
    t.teardown(() => c.close());
    const repo = { registry: reg.host, repository: `xbuild/${auth}/src-mismatch` };
    const b = blob(5000);
    const other = randomBytes(5000);
    const err = await t.throwsAsync(c.pushBlob(repo, b.desc, opener(other)), { instanceOf: XbuildError });
    t.is(err!.code, 'DIGEST_MISMATCH');
    t.false(await c.hasBlob(repo, b.desc.digest));
    const ref = parseRegistryReference(`${reg.host}/xbuild/${auth}/app@${sha256Digest('x')}`);
    const e2 = await t.throwsAsync(c.putManifest(ref, OCI_IMAGE_MANIFEST, Buffer.from('{}')), { instanceOf: XbuildError });
    t.is(e2!.code, 'DIGEST_MISMATCH');
  });

  if (auth !== 'none') {
    test.serial(`[${auth}] wrong credentials -> UNAUTHORIZED, one line, no secret in it`, async (t) => {
      const bad = { DOCKER_CONFIG: reg.dockerConfig({ username: reg.username!, password: 'wrong-password-123' }) };
      const c = new RegistryClient({ env: bad, retry: FAST_RETRY });
      t.teardown(() => c.close());
      const err = await t.throwsAsync(c.getManifest(parseRegistryReference(`${reg.host}/xbuild/${auth}/app:v1`)), { instanceOf: XbuildError });
      t.is(err!.code, 'UNAUTHORIZED');
      t.false(err!.retryable);
      t.false(err!.message.includes('\n'));
      t.false(err!.message.includes('wrong-password-123'));
      t.regex(err!.message, /rejected (the credentials of )?user "xbuild-tester"/);
      t.truthy(err!.hint);
    });

    test.serial(`[${auth}] no credentials: pushing is refused with UNAUTHORIZED`, async (t) => {
      const c = new RegistryClient({ env: { HOME: '/nonexistent' }, retry: FAST_RETRY });
      t.teardown(() => c.close());
      const b = blob(100);
      const err = await t.throwsAsync(c.pushBlob({ registry: reg.host, repository: `xbuild/${auth}/anon` }, b.desc, opener(b.data)), { instanceOf: XbuildError });
      t.is(err!.code, 'UNAUTHORIZED');
      t.regex(err!.message, /requires authentication and no credentials were found|rejected anonymous access/);
    });
  }
}
