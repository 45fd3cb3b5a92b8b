import test from 'ava';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { sha256Digest, verifyingStream, verifyBuffer, digestStream, isDigest, digestHex } from '../src/oci/digest.ts';
import { XbuildError } from '../src/errors.ts';

const data = Buffer.from('hello xbuild\n'.repeat(1000));
const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;

function chunks(buf: Buffer, n = 997): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += n) parts.push(buf.subarray(i, i + n));
  return Readable.from(parts);
}

async function collect(src: Readable, desc: { digest: string; size: number }): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(src, verifyingStream(desc), async (s: AsyncIterable<Buffer>) => { for await (const c of s) out.push(c); });
  return Buffer.concat(out);
}

test('sha256Digest and digestStream agree with node:crypto', async (t) => {
  t.is(sha256Digest(data), digest);
  t.deepEqual(await digestStream(chunks(data)), { digest, size: data.length });
  t.true(isDigest(digest));
  t.false(isDigest('sha256:xyz'));
  t.is(digestHex(digest), digest.slice(7));
  t.throws(() => digestHex('md5:00'), { instanceOf: XbuildError });
});

test('verifyingStream passes matching content through unchanged', async (t) => {
  t.deepEqual(await collect(chunks(data), { digest, size: data.length }), data);
});

test('verifyingStream fails at EOF on a different digest', async (t) => {
  const bad = Buffer.from(data); bad[5] = 0x41;
  const err = await t.throwsAsync(collect(chunks(bad), { digest, size: data.length }), { instanceOf: XbuildError });
  t.is(err!.code, 'DIGEST_MISMATCH');
  t.false(err!.retryable);
  t.regex(err!.message, new RegExp(`expected ${digest}`));
});

test('verifyingStream fails on a short blob (size) even before the digest', async (t) => {
  const err = await t.throwsAsync(collect(chunks(data.subarray(0, 100)), { digest, size: data.length }), { instanceOf: XbuildError });
  t.is(err!.code, 'DIGEST_MISMATCH');
  t.regex(err!.message, new RegExp(`size 100 bytes, expected ${data.length}`));
});

test('verifyingStream fails as soon as the blob is longer than its size', async (t) => {
  let pulled = 0;
  const endless = new Readable({ read() { pulled++; this.push(Buffer.alloc(1000)); } });
  const err = await t.throwsAsync(collect(endless, { digest, size: 1500 }), { instanceOf: XbuildError });
  t.is(err!.code, 'DIGEST_MISMATCH');
  t.regex(err!.message, /size 2000 bytes, expected 1500/);
  t.true(pulled < 100, `stopped reading early (${pulled} reads)`);
});

test('verifyBuffer', (t) => {
  t.notThrows(() => verifyBuffer({ digest, size: data.length }, data));
  t.notThrows(() => verifyBuffer({ digest }, data));
  const e = t.throws(() => verifyBuffer({ digest, size: data.length + 1 }, data), { instanceOf: XbuildError });
  t.is(e!.code, 'DIGEST_MISMATCH');
  const e2 = t.throws(() => verifyBuffer({ digest: sha256Digest('x') }, data), { instanceOf: XbuildError });
  t.is(e2!.code, 'DIGEST_MISMATCH');
});

test('sha512 descriptors are verified with sha512', async (t) => {
  const d512 = `sha512:${createHash('sha512').update(data).digest('hex')}`;
  t.true(isDigest(d512));
  t.deepEqual(await collect(chunks(data), { digest: d512, size: data.length }), data);
  t.notThrows(() => verifyBuffer({ digest: d512 }, data));
  const bad = Buffer.from(data); bad[0] = 0;
  const err = await t.throwsAsync(collect(chunks(bad), { digest: d512, size: data.length }), { instanceOf: XbuildError });
  t.is(err!.code, 'DIGEST_MISMATCH');
  t.false(isDigest('sha384:' + 'a'.repeat(96)));
});
