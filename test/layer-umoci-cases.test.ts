// Each layer case of issue 17, unpacked by the real umoci (Go archive/tar +
// filepath-securejoin): umoci's result is the expected value, and verify's
// layer reader must produce exactly the same file system (or refuse the same
// layers).
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readDockerArchive } from '../src/layout/docker-archive.ts';
import { END, entryBytes, gnuLong, headerBlock, paxEntry, paxRecord } from './helpers/tar-forge.ts';
import { diffStack, type LayerSpec, type Listing } from './helpers/umoci-diff.ts';
import { gnuSparseTar } from './helpers/gnu-sparse.ts';

const f = (name: string, data = 'x', fmt: 'ustar' | 'gnu' | 'v7' | 'star' = 'ustar') => entryBytes({ name, typeflag: '0', data: Buffer.from(data), fmt });
const d = (name: string) => entryBytes({ name, typeflag: '5' });
const s = (name: string, target: string) => entryBytes({ name, typeflag: '2', linkname: target });
const h = (name: string, target: string) => entryBytes({ name, typeflag: '1', linkname: target });
const tar = (...parts: Buffer[]) => Buffer.concat([...parts, END]);
const sha = (x: string) => `file:${createHash('sha256').update(x).digest('hex')}`;

/** umoci's file system (asserting verify's reader sees the same), or undefined when umoci refuses (verify must too). */
async function same(t: ExecutionContext, layers: (Buffer | LayerSpec)[]): Promise<Listing | undefined> {
  const r = await diffStack({ layers: layers.map((l) => (Buffer.isBuffer(l) ? { tar: l } : l)) });
  t.deepEqual(r.diff, [], 'verify reads the layers as umoci unpacks them');
  return r.theirs.ok ? r.theirs.files : undefined;
}

test('entries after the end-of-archive marker are not applied', async (t) => {
  const fs = await same(t, [tar(f('a'), END, f('after'))]);
  t.deepEqual([...fs!.keys()], ['a']);
});

test('GNU L beats a PAX path; GNU K beats a PAX linkpath', async (t) => {
  const fs = await same(t, [tar(paxEntry([['path', 'pax-name']]), gnuLong('L', 'gnu-name'), f('short'),
    paxEntry([['linkpath', 'pax-target']]), gnuLong('K', 'gnu-target'), s('lnk', 'short'))]);
  t.deepEqual([...fs!.keys()].sort(), ['gnu-name', 'lnk']);
  t.is(fs!.get('lnk'), 'symlink:gnu-target');
});

test('STAR headers: the 131-byte prefix is part of the name', async (t) => {
  const long = `${'p'.repeat(120)}/usr/bin/sh`;
  const fs = await same(t, [tar(entryBytes({ name: long, typeflag: '0', data: Buffer.from('x'), fmt: 'star', usePrefix: true }))]);
  t.true(fs!.has(long));
});

test('a PAX global header is not folded into the next entry (containers/storage skips it; umoci 0.4.7 refuses it)', async (t) => {
  const r = await diffStack({ layers: [{ tar: tar(paxEntry([['path', 'from-global']], true), f('a')) }] });
  t.false(r.theirs.ok, 'umoci refuses typeflag g');
  t.regex(r.theirs.ok ? '' : r.theirs.error, /unknown typeflag '\\x67'/);
  t.true(r.ours.ok && r.ours.files.has('a') && !r.ours.files.has('from-global'), 'verify applies "a" under its own name, as containers/storage does');
});

test('names that are not UTF-8 stay distinct, byte for byte', async (t) => {
  const fs = await same(t, [tar(f('n\xff', '1'), f('n\xfe', '2'), f('\xc3\xa9', '3'), f('n\ufffd'.replace('\ufffd', '\xef\xbf\xbd'), '4'))]);
  t.is(fs!.size, 4);
  t.is(fs!.get('n\xff'), sha('1'));
});

test('merged /usr: a later bin/sh lands on usr/bin/sh; a whiteout under a symlinked dir removes the target', async (t) => {
  const fs = await same(t, [
    tar(d('usr/'), d('usr/bin/'), s('bin', 'usr/bin'), s('qb', '/usr/bin'), f('usr/bin/sh', 'arm'), f('usr/bin/qemu-arm-static', 'emu')),
    tar(f('bin/sh', 'shim'), f('qb/.wh.qemu-arm-static', '')),
  ]);
  t.is(fs!.get('usr/bin/sh'), sha('shim'));
  t.is(fs!.get('bin'), 'symlink:usr/bin');
  t.false(fs!.has('usr/bin/qemu-arm-static'));
});

test('.. is clamped at the root; dangling symlinked parents are created at their target', async (t) => {
  const fs = await same(t, [tar(f('../../etc/x'), s('q', '../nowhere/deep'), f('q/file'))]);
  t.true(fs!.has('etc/x'));
  t.true(fs!.has('nowhere/deep/file'));
});

test('opaque directories and whiteouts spare the same layer; a root opaque marker clears lower layers', async (t) => {
  const fs = await same(t, [tar(f('a/x'), f('a/y'), f('top')), tar(f('a/z'), f('a/.wh..wh..opq', ''), f('.wh..wh..opq', ''), f('new'))]);
  t.deepEqual([...fs!.keys()].sort(), ['a', 'a/z', 'new']);
});

test('link targets longer than PATH_MAX and PAX records above 1 MiB are refused by the runtime', async (t) => {
  t.is(await same(t, [tar(paxEntry([['linkpath', 't'.repeat(5000)]]), s('l', 'short'))]), undefined);
  t.is(await same(t, [tar(paxEntry([['linkpath', 't'.repeat(2 << 20)]]), s('l', 'short'))]), undefined);
});

test('a PAX header claiming 3 GiB is refused (layer and docker-archive) without allocating it', async (t) => {
  const huge = Buffer.concat([headerBlock({ name: 'PaxHeaders/x', typeflag: 'x', size: 3 * 2 ** 30 }), paxRecord('path', 'x')]);
  t.is(await same(t, [{ tar: huge, plain: true }]), undefined);
  const dir = await mkdtemp(join(tmpdir(), 'xbuild-pax-'));
  try {
    await writeFile(join(dir, 'a.tar'), Buffer.concat([huge, Buffer.alloc(1024)]));
    await t.throwsAsync(readDockerArchive(join(dir, 'a.tar')), { message: /PAX or GNU long-name header of 3221225472 bytes/ });
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test('integrity: wrong diff_id, data after the gzip stream, typeflag NUL with a slash and data, old GNU sparse, contiguous files', async (t) => {
  t.is(await same(t, [{ tar: tar(f('a')), diffId: `sha256:${'0'.repeat(64)}` }]), undefined);
  t.is(await same(t, [{ tar: tar(f('a')), gzTail: Buffer.alloc(1024) }]), undefined);
  t.is(await same(t, [tar(entryBytes({ name: 'd/', typeflag: '\0', data: Buffer.from('hello') }), f('after'))]), undefined);
  t.is(await same(t, [tar(entryBytes({ name: 's', typeflag: 'S', data: Buffer.from('x'), fmt: 'gnu' }))]), undefined);
  t.is(await same(t, [tar(entryBytes({ name: 'c', typeflag: '7', data: Buffer.from('x') }))]), undefined);
  const ok = await same(t, [tar(entryBytes({ name: 'd/', typeflag: '\0' }))]);
  t.is(ok!.get('d'), 'dir', 'typeflag NUL with a trailing slash and no data is a directory');
});

test('no false failures: v7 headers, hard links reached through a symlinked directory, trailing zero blocks inside the tar', async (t) => {
  const fs = await same(t, [tar(f('usr/bin/dash', 'arm', 'v7'), s('bin', 'usr/bin'), h('sh', 'bin/dash'), h('sh2', '/bin/../bin/dash'))]);
  t.is(fs!.get('sh'), sha('arm'));
  t.is(fs!.get('sh2'), sha('arm'));
  t.truthy(await same(t, [{ tar: Buffer.concat([tar(f('a')), Buffer.alloc(10240)]) }]));
});

test('GNU sparse files in PAX form (0.0, 0.1, 1.0, written by GNU tar) read with their logical size and content, as umoci unpacks them', async (t) => {
  for (const v of ['0.0', '0.1', '1.0'] as const) {
    const sp = gnuSparseTar(v);
    const fs = await same(t, [sp.tar]);
    t.is(fs?.get('data/sparse.bin'), `file:${createHash('sha256').update(sp.content).digest('hex')}`, `format ${v}`);
  }
});

test('a PAX sparse map whose fragments do not add up to the stored data is refused, as umoci refuses it', async (t) => {
  const pax = (recs: [string, string][]) => paxEntry(recs);
  const bad = tar(pax([['GNU.sparse.major', '0'], ['GNU.sparse.minor', '1'], ['GNU.sparse.name', 'sp'], ['GNU.sparse.size', '100'], ['GNU.sparse.numblocks', '1'], ['GNU.sparse.map', '0,10']]),
    entryBytes({ name: 'GNUSparseFile.0/sp', typeflag: '0', data: Buffer.from('0123456789abc') }));
  t.is(await same(t, [bad]), undefined);
  const good = tar(pax([['GNU.sparse.major', '0'], ['GNU.sparse.minor', '1'], ['GNU.sparse.name', 'sp'], ['GNU.sparse.size', '100'], ['GNU.sparse.numblocks', '1'], ['GNU.sparse.map', '50,10']]),
    entryBytes({ name: 'GNUSparseFile.0/sp', typeflag: '0', data: Buffer.from('0123456789') }));
  const fs = await same(t, [good]);
  t.is(fs!.get('sp'), `file:${createHash('sha256').update(Buffer.concat([Buffer.alloc(50), Buffer.from('0123456789'), Buffer.alloc(40)])).digest('hex')}`);
});
