// unwrap reads layers with the reader verify uses (src/layer/walk.ts over
// compression.ts openLayerTar), so what it keeps is what a runtime unpacks:
// nothing after the end-of-archive marker, GNU sparse files (PAX form) with
// their logical content, and layers whose diff_id does not match refused.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import type { Image, Layer } from '../src/oci/model.ts';
import { unwrapImage } from '../src/unwrap/unwrap.ts';
import { buildOn } from './helpers/built-image.ts';
import { mergedFsOf } from './helpers/merged-fs.ts';
import { END, entryBytes, withoutEnd } from './helpers/tar-forge.ts';
import { gnuSparseTar } from './helpers/gnu-sparse.ts';
import { DASH2, upgradeLayer, wrapped } from './helpers/unwrap-fixtures.ts';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** The upgrade layer (rewritten by unwrap) followed by `extra` bytes before its end marker. */
async function upgradeWith(extra: Buffer, after: Buffer = Buffer.alloc(0)): Promise<Buffer> {
  return Buffer.concat([withoutEnd(await upgradeLayer()), extra, END, after]);
}

async function rewrittenTop(img: Image): Promise<Buffer> {
  const layers = await img.layers();
  const l = layers[layers.length - 1]!;
  const chunks: Buffer[] = [];
  for await (const c of await l.open()) chunks.push(c as Buffer);
  return gunzipSync(Buffer.concat(chunks));
}

test('entries after the end-of-archive marker of a rewritten layer are not carried into the unwrapped image', async (t) => {
  const layer = await upgradeWith(Buffer.alloc(0), entryBytes({ name: 'usr/bin/after-the-end', typeflag: '0', data: Buffer.from('hidden') }));
  const r = await unwrapImage(await buildOn(await wrapped(true), [{ createdBy: 'RUN apt-get upgrade', tar: layer }]));
  const img = r.image as Image;
  t.deepEqual(r.entries[0]!.restored, ['usr/bin/dash']);
  t.false((await rewrittenTop(img)).includes('after-the-end'), 'a runtime never sees the entry: the rewrite must not resurrect it');
  t.is((await mergedFsOf(img)).get('usr/bin/dash')?.digest, sha(DASH2));
});

for (const version of ['0.0', '0.1', '1.0'] as const) {
  test(`a GNU sparse file (PAX ${version}, written by GNU tar) in a rewritten layer comes out with its logical content`, async (t) => {
    const sp = gnuSparseTar(version);
    const r = await unwrapImage(await buildOn(await wrapped(true), [{ createdBy: 'RUN apt-get upgrade', tar: await upgradeWith(withoutEnd(sp.tar)) }]));
    const fs = await mergedFsOf(r.image as Image);
    t.is(fs.get('data/sparse.bin')?.digest, sha(sp.content));
    t.is(fs.get('usr/bin/dash')?.digest, sha(DASH2));
    const listed = execFileSync('tar', ['-tvf', '-'], { input: await rewrittenTop(r.image as Image) }).toString();
    t.regex(listed, /1048576 .* data\/sparse\.bin\n/, 'GNU tar reads the rewritten (dense) entry at its logical size');
    t.notRegex(listed, /GNUSparseFile/);
  });
}

test('a layer whose content does not match its diff_id: unwrap refuses it as runtimes do', async (t) => {
  const built = await buildOn(await wrapped(true), [{ createdBy: 'RUN apt-get upgrade', tar: await upgradeLayer() }]);
  const layers = await built.layers();
  const top = layers[layers.length - 1]!;
  const lying: Layer = { ...top, diffId: sha('something else') };
  const img: Image = { ...built, layers: async () => [...layers.slice(0, -1), lying] };
  const err = await t.throwsAsync(unwrapImage(img));
  t.regex(err!.message, /diff_id/);
});
