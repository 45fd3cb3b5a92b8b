// The stream plumbing under every layer read (src/layer/chunks.ts and the
// first-bytes sniffing of compression.ts decompressBlob): chunks arrive as
// pushed (no joining copies), in order, with backpressure; errors, early
// ends and short blobs come out as one clear failure, never an unhandled
// 'error' event.
import test from 'ava';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { chunksOf } from '../src/layer/chunks.ts';
import { decompressBlob } from '../src/layer/compression.ts';

const text = async (s: Readable) => { const a: Buffer[] = []; for await (const c of chunksOf(s)) a.push(c); return Buffer.concat(a).toString(); };

test('chunksOf hands over the very Buffers pushed, in order, and pauses the stream while its queue is full', async (t) => {
  const pushed = Array.from({ length: 40 }, (_, i) => Buffer.from(`chunk ${i};`));
  let pauses = 0;
  const s = new Readable({ read() { /* pushed below */ } });
  s.on('pause', () => { pauses++; });
  for (const c of pushed) s.push(c);
  s.push(null);
  const got: Buffer[] = [];
  for await (const c of chunksOf(s, 4)) got.push(c);
  t.is(got.length, pushed.length);
  t.true(got.every((c, i) => c === pushed[i]), 'same objects: nothing joined or copied');
  t.true(pauses > 0, 'backpressure: the stream was paused');
  // Node's own iterator joins what is buffered: the copy this module avoids
  const joined = new Readable({ read() {} });
  for (const c of pushed) joined.push(c);
  joined.push(null);
  const native: Buffer[] = [];
  for await (const c of joined) native.push(c as Buffer);
  t.true(native.length < pushed.length, `Node's iterator returned ${native.length} joined chunks`);
});

test('chunksOf: an error fails the iteration; a stream destroyed before its end is a premature close; stopping early leaves no unhandled error', async (t) => {
  const bad = new Readable({ read() { this.push(Buffer.from('a')); this.destroy(new Error('disk gone')); } });
  await t.throwsAsync(text(bad), { message: 'disk gone' });
  const cut = new Readable({ read() {} });
  cut.push(Buffer.from('a'));
  setTimeout(() => cut.destroy(), 20);
  await t.throwsAsync(text(cut), { code: 'ERR_STREAM_PREMATURE_CLOSE' } as never);
  const later = new Readable({ read() {} });
  later.push(Buffer.from('x'));
  for await (const _ of chunksOf(later)) break;
  later.destroy(new Error('after the consumer left'));
  await new Promise((r) => setImmediate(r));
  t.pass();
});

test('decompressBlob: empty, shorter than a magic number, split gzip header, truncated gzip, trailing bytes and a failing source', async (t) => {
  t.is(await text(await decompressBlob(Readable.from([], { objectMode: false }))), '');
  t.is(await text(await decompressBlob(Readable.from([Buffer.from('ab')]))), 'ab');
  const g = gzipSync('hello world');
  t.is(await text(await decompressBlob(Readable.from([g.subarray(0, 1), g.subarray(1, 3), g.subarray(3)]))), 'hello world');
  await t.throwsAsync(async () => text(await decompressBlob(Readable.from([g.subarray(0, 12)]))), { message: /unexpected end of file/ });
  await t.throwsAsync(async () => text(await decompressBlob(Readable.from([Buffer.concat([g, Buffer.from([0x1f, 0x8b, 8, 0])])]))));
  const failing = new Readable({ read() { this.destroy(new Error('disk gone')); } });
  await t.throwsAsync(async () => text(await decompressBlob(failing, 'layer 1/1')), { message: 'layer 1/1: disk gone' });
});
