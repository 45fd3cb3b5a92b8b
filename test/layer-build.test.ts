import test from 'ava';
import { gunzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { buildLayer, normalizeEntries } from '../src/layer/build.ts';
import type { LayerEntry } from '../src/layer/entry.ts';
import { readAll } from '../src/oci/digest.ts';

const entries = (): LayerEntry[] => [
  { path: 'usr/bin/cross-build-start', type: 'file', mode: 0o755, content: Buffer.from('#!/bin/sh\nstart\n') },
  { path: 'usr/bin/qemu-arm-static', type: 'file', mode: 0o755, size: 5, content: async () => Readable.from([Buffer.from('ab'), Buffer.from('cde')]) },
  { path: 'usr/lib/xbuild/sh', type: 'symlink', mode: 0o777, linkname: '../../bin/x' },
];

async function listTar(gz: Buffer) {
  const ex = tar.extract();
  const out: Array<{ name: string; type: string; mode: number; uid: number; gid: number; mtime: number; uname?: string; size: number }> = [];
  ex.on('entry', (h, s, next) => { out.push({ name: h.name, type: h.type!, mode: h.mode!, uid: h.uid!, gid: h.gid!, mtime: h.mtime!.getTime(), uname: h.uname, size: h.size ?? 0 }); s.resume(); s.on('end', next); });
  const done = new Promise<void>((res, rej) => { ex.on('finish', () => res()); ex.on('error', rej); });
  ex.end(gunzipSync(gz));
  await done;
  return out;
}

test('same entries (in any order) give the same digest, size and diff_id', async (t) => {
  const a = await buildLayer(entries(), { sourceDateEpoch: 1700000000 });
  const b = await buildLayer(entries().reverse(), { sourceDateEpoch: 1700000000 });
  t.deepEqual(a.descriptor, b.descriptor);
  t.is(a.diffId, b.diffId);
  const c = await buildLayer(entries(), { sourceDateEpoch: 1700000001 });
  t.not(c.descriptor.digest, a.descriptor.digest);
});

test('the blob matches its descriptor, diff_id is the sha256 of the tar, and it can be read twice', async (t) => {
  const l = await buildLayer(entries());
  const one = await readAll(await l.open(), 1 << 30);
  const two = await readAll(await l.open(), 1 << 30);
  t.true(one.equals(two));
  t.is(one.length, l.descriptor.size);
  t.is(`sha256:${createHash('sha256').update(one).digest('hex')}`, l.descriptor.digest);
  t.is(`sha256:${createHash('sha256').update(gunzipSync(one)).digest('hex')}`, l.diffId);
  // gzip header: no file name flag, mtime 0
  t.is(one[3]! & 0x08, 0);
  t.is(one.readUInt32LE(4), 0);
});

test('entries are sorted, parent dirs added, uid/gid 0, no owner names, mtime from SOURCE_DATE_EPOCH', async (t) => {
  const l = await buildLayer(entries(), { sourceDateEpoch: 1234 });
  const list = await listTar(await readAll(await l.open(), 1 << 30));
  t.deepEqual(list.map((e) => e.name), ['usr/', 'usr/bin/', 'usr/bin/cross-build-start', 'usr/bin/qemu-arm-static', 'usr/lib/', 'usr/lib/xbuild/', 'usr/lib/xbuild/sh']);
  for (const e of list) {
    t.is(e.uid, 0); t.is(e.gid, 0); t.is(e.mtime, 1234_000); t.falsy(e.uname);
  }
  t.is(list.find((e) => e.name === 'usr/bin/qemu-arm-static')!.mode, 0o755);
  t.is(list.find((e) => e.name === 'usr/')!.mode, 0o755);
});

test('bad entries are refused', (t) => {
  t.throws(() => normalizeEntries([{ path: '/abs', type: 'dir', mode: 0o755 }]), { message: /relative/ });
  t.throws(() => normalizeEntries([{ path: '../x', type: 'dir', mode: 0o755 }]), { message: /relative/ });
  t.throws(() => normalizeEntries([{ path: 'a', type: 'dir', mode: 0o755 }, { path: 'a', type: 'dir', mode: 0o755 }]), { message: /twice/ });
  t.throws(() => normalizeEntries([{ path: 'a', type: 'file', mode: 0o644, content: async () => Readable.from([]) }]), { message: /no size/ });
  t.throws(() => normalizeEntries([{ path: 'a', type: 'file', mode: 0o644, content: Buffer.from('x') }, { path: 'a/b', type: 'file', mode: 0o644, content: Buffer.from('x') }]), { message: /holds/ });
});

test('a streamed file whose content changes between reads fails the verifying re-read', async (t) => {
  let n = 0;
  const l = await buildLayer([{ path: 'f', type: 'file', mode: 0o644, size: 3, content: async () => Readable.from([Buffer.from(n++ === 0 ? 'abc' : 'abd')]) }]);
  await t.throwsAsync(async () => readAll(await l.open(), 1 << 30), { message: /expected/ });
});
