// appendLayer (src/oci/append.ts), the generic mutation wrap is built on: one
// layer, one history entry, optional labels and annotations; everything else of
// the base is kept as it was, and the result is a valid image.
import test from 'ava';
import { appendLayer } from '../src/oci/append.ts';
import { validateImage } from '../src/oci/manifest.ts';
import { buildLayer } from '../src/layer/build.ts';
import { memImage, tarOf } from './helpers/mem-image.ts';

test('appendLayer adds exactly one layer and history entry; labels and annotations only when given', async (t) => {
  const base = memImage('t/base', { architecture: 'arm', variant: 'v7' }, [{ tar: await tarOf([{ name: 'etc/hostname', content: 'base\n' }]), gzip: true }]);
  const layer = await buildLayer([{ path: 'etc/added', type: 'file', mode: 0o644, content: Buffer.from('x\n') }]);
  const history = { created: '1970-01-01T00:00:00Z', created_by: 'test' };

  const plain = await appendLayer(base, { layer, history });
  await validateImage(plain);
  const [bc, pc] = [await base.config(), await plain.config()];
  t.deepEqual(pc.config, bc.config, 'config.Labels untouched without labels');
  t.deepEqual(pc.rootfs.diff_ids, [...bc.rootfs.diff_ids, layer.diffId]);
  t.deepEqual(pc.history, [...(bc.history ?? []), history]);
  const [bm, pm] = [await base.manifest(), await plain.manifest()];
  t.deepEqual(pm.layers, [...bm.layers, layer.descriptor], 'base layer descriptors reused as they are');
  t.deepEqual(pm.annotations, bm.annotations);
  t.is((await plain.layers()).length, bm.layers.length + 1);

  const labelled = await appendLayer(base, { layer, history, labels: { a: '1' }, annotations: { 'org.example.k': 'v' } }, 'named');
  await validateImage(labelled);
  t.is(labelled.name, 'named');
  t.is((await labelled.config()).config?.Labels?.a, '1');
  t.is((await labelled.manifest()).annotations?.['org.example.k'], 'v');
  t.not(await labelled.digest(), await plain.digest());
});
